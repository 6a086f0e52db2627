#!/usr/bin/env pwsh
# Build entry point. On Linux: `dotnet tool restore` once, then `dotnet pwsh ./build.ps1 <target>`.
#   build       restore and build the solution (the native custom-op library included)
#   test        the whole xunit suite (what CI runs)
#   bench       BenchmarkDotNet kernel suite (memory copy vs each kernel); long, not in CI
#   bench-cli   `onnxmemopt bench` on the paper-shaped presets; long, not in CI
#   fuzz-long   the long fuzz run (50,000 mutants); long, not in CI
#   conformance every command on every model of the exporter corpus (fixtures/exported), bench with
#               5 steps; writes its section of docs/conformance.md; long, not in CI
#   accuracy    the accuracy study of docs/accuracy.md (MiniLM on SpamAssassin, 6 runs); long, not in CI
#   pack        the four packages under artifacts/: OnnxMemOpt.Rewriter, .CustomOps (native library
#               inside), .Runtime and the OnnxMemOpt.Tool dotnet tool
#   samples     build and run samples/ against the packages in artifacts/ (run `pack` first)
#   cuda-syntax compile every CUDA source with clang against stand-in toolkit headers (no GPU, no nvcc)
param(
    [Parameter(Position = 0)]
    [ValidateSet('build', 'test', 'bench', 'bench-cli', 'fuzz-long', 'conformance', 'accuracy', 'pack', 'samples', 'cuda-syntax')]
    [string]$Target = 'build',
    [string]$Configuration = 'Release',
    [string[]]$Extra = @()
)

$ErrorActionPreference = 'Stop'
Set-Location $PSScriptRoot

function Invoke-Checked([string]$exe, [string[]]$arguments) {
    Write-Host "> $exe $($arguments -join ' ')"
    & $exe @arguments
    if ($LASTEXITCODE -ne 0) { throw "$exe exited with $LASTEXITCODE" }
}

switch ($Target) {
    'build' { Invoke-Checked dotnet @('build', 'OnnxMemOpt.sln', '-c', $Configuration) }
    'test' { Invoke-Checked dotnet (@('test', 'OnnxMemOpt.sln', '-c', $Configuration) + $Extra) }
    'bench' {
        Invoke-Checked dotnet (@('run', '--project', 'tests/OnnxMemOpt.Bench', '-c', 'Release', '--', '--filter', '*') + $Extra)
    }
    'bench-cli' {
        # The acceptance configurations of docs/benchmarks.md (float32, CPU), then the demo.
        $configurations = @(
            @('--preset', 'vit-b16', '--batch', '16', '--trainable', 'lora-qv'),
            @('--preset', 'llama', '--batch', '4', '--trainable', 'lora-all'),
            @('--preset', 'minilm', '--batch', '32', '--seq', '128', '--trainable', 'lora-all'),
            @('--preset', 'roberta-base', '--batch', '32', '--trainable', 'lora-all')
        )
        Invoke-Checked dotnet @('build', 'src/Cli', '-c', 'Release')
        foreach ($configuration in $configurations) {
            Invoke-Checked dotnet (@('run', '--project', 'src/Cli', '-c', 'Release', '--no-build', '--', 'bench') + $configuration + @('--steps', '5') + $Extra)
        }
        Invoke-Checked dotnet (@('run', '--project', 'src/Cli', '-c', 'Release', '--no-build', '--', 'demo', '--out', 'artifacts/demo-report'))
    }
    'fuzz-long' {
        $env:ONNXMEMOPT_FUZZ_CASES = '50000'
        Invoke-Checked dotnet (@('test', 'OnnxMemOpt.sln', '-c', 'Release', '--filter', 'Category=Fuzz') + $Extra)
    }
    'conformance' {
        $env:ONNXMEMOPT_CONFORMANCE_REPORT = Join-Path $PSScriptRoot 'docs/conformance.md'
        $env:ONNXMEMOPT_CONFORMANCE_BENCH_STEPS = '5'
        Invoke-Checked dotnet (@('test', 'tests/OnnxMemOpt.Tests', '-c', $Configuration, '--filter', 'Category=CorpusLong', '--logger', 'console;verbosity=normal') + $Extra)
    }
    'pack' {
        # Packages name the commit they were built from (and the repository, where the clone has a remote).
        Get-ChildItem artifacts -Filter 'OnnxMemOpt.*.nupkg' -ErrorAction SilentlyContinue | Remove-Item
        $properties = @('-c', $Configuration, '-o', 'artifacts', "-p:RepositoryCommit=$(git rev-parse HEAD)")
        $remote = git remote 2>$null | Select-Object -First 1
        if ($remote) { $properties += "-p:RepositoryUrl=$(git remote get-url $remote)" }
        foreach ($project in @('src/Rewriter', 'src/CustomOps', 'src/Runtime', 'src/Cli')) {
            Invoke-Checked dotnet (@('pack', $project) + $properties)
        }
    }
    'samples' {
        # The samples restore OnnxMemOpt.* from artifacts/ only. NuGet keeps one copy per version in
        # its global folder, so a copy from an earlier pack of the same version is removed first.
        $globalPackages = ((dotnet nuget locals global-packages --list) -replace '^global-packages:\s*', '').Trim()
        Get-ChildItem $globalPackages -Directory -Filter 'onnxmemopt.*' -ErrorAction SilentlyContinue | Remove-Item -Recurse -Force
        # Both ways an app can be built: portable (NuGet's runtimes/ layout in the output) and RID-specific.
        Invoke-Checked dotnet @('run', '--project', 'samples/CustomOpsOnly', '-c', $Configuration)
        Invoke-Checked dotnet @('run', '--project', 'samples/CustomOpsOnly', '-c', $Configuration, '-r', 'linux-x64')
        Invoke-Checked dotnet @('run', '--project', 'samples/TrainingLoop', '-c', $Configuration, '--', 'fixtures/models/vit-tiny.onnx', '20')
        Invoke-Checked dotnet @('test', 'samples/SnapshotTest', '-c', $Configuration)
        # The tool package installs and runs (in a throwaway tool path, not the user's global tools).
        $toolPath = Join-Path ([System.IO.Path]::GetTempPath()) "onnxmemopt-tool-$PID"
        try {
            $version = ([xml](Get-Content src/Version.props)).Project.PropertyGroup.Version
            Invoke-Checked dotnet @('tool', 'install', 'OnnxMemOpt.Tool', '--tool-path', $toolPath, '--add-source', 'artifacts', '--version', $version)
            Invoke-Checked (Join-Path $toolPath 'onnxmemopt') @('inspect', 'fixtures/models/vit-tiny.onnx')
        }
        finally { Remove-Item $toolPath -Recurse -Force -ErrorAction SilentlyContinue }
    }
    'accuracy' {
        Invoke-Checked dotnet @('build', 'src/Cli', '-c', 'Release')
        Invoke-Checked bash @('scripts/accuracy-study.sh')
        Invoke-Checked python3 @('scripts/accuracy-tables.py')
    }
    'cuda-syntax' { Invoke-Checked bash @('scripts/cuda-syntax-check.sh') }
}

#!/usr/bin/env pwsh
# Build entry point. On Linux: `dotnet tool restore` once, then `dotnet pwsh ./build.ps1 <target>`.
#   build       restore and build the solution (the native custom-op library included)
#   test        the whole xunit suite (what CI runs)
#   bench       BenchmarkDotNet kernel suite (memory copy vs each kernel); long, not in CI
#   bench-cli   `onnxmemopt bench` on the paper-shaped presets; long, not in CI
#   fuzz-long   the long fuzz run (50,000 mutants); long, not in CI
#   accuracy    the accuracy study of docs/accuracy.md (MiniLM on SpamAssassin, 6 runs); long, not in CI
#   pack        the `onnxmemopt` dotnet tool package under artifacts/
#   cuda-syntax compile every CUDA source with clang against stand-in toolkit headers (no GPU, no nvcc)
param(
    [Parameter(Position = 0)]
    [ValidateSet('build', 'test', 'bench', 'bench-cli', 'fuzz-long', 'accuracy', 'pack', 'cuda-syntax')]
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
    'accuracy' {
        Invoke-Checked dotnet @('build', 'src/Cli', '-c', 'Release')
        Invoke-Checked bash @('scripts/accuracy-study.sh')
        Invoke-Checked python3 @('scripts/accuracy-tables.py')
    }
    'pack' { Invoke-Checked dotnet @('pack', 'src/Cli', '-c', $Configuration, '-o', 'artifacts') }
    'cuda-syntax' { Invoke-Checked bash @('scripts/cuda-syntax-check.sh') }
}

#!/usr/bin/env bash
# Rewrites each packaged library's PublicAPI.Unshipped.txt to the public surface the compiler sees.
# Microsoft.CodeAnalysis.PublicApiAnalyzers fails the build (RS0016/RS0017) whenever the public API
# and these files differ, so a change to the API is always a change to a checked-in file that a
# reviewer reads. Run this after a deliberate API change, then review `git diff -- '*PublicAPI*'`.
# Entries in PublicAPI.Shipped.txt (APIs of a released version) are never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
projects=(src/Rewriter/OnnxMemOpt.Rewriter.csproj src/CustomOps/OnnxMemOpt.CustomOps.csproj src/Runtime/OnnxMemOpt.Runtime.csproj)
for project in "${projects[@]}"; do
  folder=$(dirname "$project")
  unshipped="$folder/PublicAPI.Unshipped.txt"
  printf '#nullable enable\n' > "$unshipped"
  # With the file emptied every public symbol is reported once as undeclared; collect them all.
  log=$(mktemp)
  dotnet build "$project" -c Debug --no-incremental -p:TreatWarningsAsErrors=false -p:WarningsAsErrors=RS0016 2>&1 > "$log" || true
  { printf '#nullable enable\n'
    grep -o "error RS0016: Symbol '[^']*' is not part of the declared public API" "$log" \
      | sed -e "s/^error RS0016: Symbol '//" -e "s/' is not part of the declared public API$//" \
      | LC_ALL=C sort -u
  } > "$unshipped"
  rm -f "$log"
  echo "$unshipped: $(($(wc -l < "$unshipped") - 1)) symbols"
done
# The build must now pass with the analyzers' errors on.
for project in "${projects[@]}"; do dotnet build "$project" -c Debug > /dev/null; done
echo "public API listings are current"

#!/usr/bin/env bash
# The hostile-client scenarios of HostileClientTests at a larger scale (not part of CI): N clients that never
# read a 64 MiB response, then N uploaders at 1 byte/s, each beside a well-behaved client making one request
# every 0.25 s, against two workers in the C# pool, in-process Python and Python worker processes.
# Usage: tests/hostile-clients.sh N     (default 50)
# Prints one line per scenario with the well-behaved client's slowest and median latency; exits non-zero if a
# well-behaved request failed or took longer than the test's bound.
set -uo pipefail
cd "$(dirname "$0")/.."
clients="${1:-50}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build tests/Adapter.Tests -c Release -v quiet -nologo >/dev/null || { echo "build failed" >&2; exit 2; }
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
HOSTILE_CLIENTS="$clients" dotnet test tests/Adapter.Tests -c Release --no-build \
    --filter "FullyQualifiedName~HostileClientTests" --logger "console;verbosity=detailed" >"$out" 2>&1
status=$?
grep -o 'hostile-clients .*' "$out" | sed 's/^hostile-clients //' | sort -u
if grep -q "Skipped Adapter.Tests.HostileClientTests" "$out"; then
    grep "Skipped Adapter.Tests.HostileClientTests" "$out" >&2
    status=1
fi
if [ "$status" -ne 0 ]; then
    grep -E "Failed |Assert|slowest" "$out" | head -20 >&2
fi
exit "$status"

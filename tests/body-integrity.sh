#!/usr/bin/env bash
# Stress run of the body-integrity tests (not part of CI): numbered chunks through the iterable and write(),
# from C# and through the Python bridge, each downloaded ROUNDS times by a jittery slow client.
# Usage: tests/body-integrity.sh ROUNDS     (default 100)
# Prints one line per case: "<case>: N bad of ROUNDS downloads"; exits non-zero if any download was bad.
set -uo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-100}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build tests/Adapter.Tests -c Release -v quiet -nologo >/dev/null || { echo "build failed" >&2; exit 2; }
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
BODY_INTEGRITY_ROUNDS="$rounds" dotnet test tests/Adapter.Tests -c Release --no-build \
    --filter "FullyQualifiedName~BodyIntegrityTests" --logger "console;verbosity=detailed" >"$out" 2>&1
status=$?
grep -o 'body-integrity .*' "$out" | sed 's/^body-integrity //' | sort -u
if grep -q "Skipped Adapter.Tests.BodyIntegrity" "$out"; then
    grep "Skipped Adapter.Tests.BodyIntegrity" "$out" >&2
    echo "some cases were skipped (CPython or its packages missing: see .ci/run)" >&2
    status=1
fi
if [ "$status" -ne 0 ]; then
    grep -E "bad of|round [0-9]+:" "$out" | head -20 >&2
fi
exit "$status"

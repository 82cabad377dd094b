#!/usr/bin/env bash
# Starts and stops the sample host (Release, with CPython and Flask loaded) CYCLES times in a row (default 20).
# Each cycle: start, wait for /flask/ to answer, send requests, SIGTERM, and check that the process exited
# on its own with code 0 within 20 s, that CPython was finalized (an atexit hook ran), and that nothing
# crashed (no "Fatal Python error", no segfault, no unhandled exception). Exits 1 on the first failure.
#
#   bash tests/start-stop-cycles.sh               # Python in 2 worker processes (Debian's python3)
#   PROCESSES=0 bash tests/start-stop-cycles.sh   # Python in-process
# In processes mode each cycle also checks that every worker process the host started has ended with it,
# and that each worker ran its atexit hook (a clean interpreter exit, not a kill).
set -euo pipefail
cd "$(dirname "$0")/.."
cycles="${CYCLES:-20}"
processes="${PROCESSES:-2}"
port=5290
work="$(mktemp -d)"
pid=""
# On any exit, a failed check included: no host or worker of a cycle is left running on the fixed port.
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        pkill -KILL -P "$pid" 2>/dev/null || true
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

dotnet publish samples/KestrelHost -c Release -o "$work/host" -v quiet -nologo >/dev/null

# Python reads PYTHONPATH at start-up and imports sitecustomize from it: the hook marks each finalization.
mkdir -p "$work/site"
cat >"$work/site/sitecustomize.py" <<'PY'
import atexit
import os


def _finalized():
    # One marker per process: the host (in-process mode) and each worker process prove their own exit.
    with open(f"{os.environ['CYCLE_MARKER']}.{os.getpid()}", "w") as marker:
        marker.write("finalized\n")


atexit.register(_finalized)
PY

for cycle in $(seq 1 "$cycles"); do
    marker="$work/finalized-$cycle"
    log="$work/host-$cycle.log"
    started=$(date +%s%N)
    CYCLE_MARKER="$marker" PYTHONPATH="$work/site" ASPNETCORE_URLS="http://127.0.0.1:$port" \
        "$work/host/KestrelHost" --PythonGateway:Processes="$processes" --PythonGateway:PythonExecutable=/usr/bin/python3 >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 1 300); do
        curl -fs -o /dev/null "http://127.0.0.1:$port/flask/" && break
        sleep 0.1
    done
    answer="$(curl -fs "http://127.0.0.1:$port/flask/greet/cycle$cycle")"
    [ "$answer" = "Hello, cycle$cycle, from Flask behind Kestrel" ] || { echo "cycle $cycle: /flask answered '$answer'"; cat "$log"; exit 1; }
    curl -fs -o /dev/null "http://127.0.0.1:$port/"
    workers="$(pgrep -P "$pid" || true)"
    if [ "$processes" -gt 0 ] && [ "$(wc -w <<<"$workers")" -lt "$processes" ]; then
        echo "cycle $cycle: expected $processes worker processes, found: $workers"; exit 1
    fi
    stopping=$(date +%s%N)
    kill -TERM "$pid"
    for _ in $(seq 1 200); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid"
        echo "cycle $cycle: the host did not exit within 20 s of SIGTERM"
        exit 1
    fi
    status=0
    wait "$pid" || status=$?
    stopped=$(date +%s%N)
    if [ "$status" -ne 0 ]; then
        echo "cycle $cycle: exit code $status"; cat "$log"; exit 1
    fi
    if grep -qE "Fatal Python error|Segmentation fault|Unhandled exception|core dumped" "$log"; then
        echo "cycle $cycle: crash in the log"; cat "$log"; exit 1
    fi
    for worker in $workers; do
        for _ in $(seq 1 50); do
            kill -0 "$worker" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$worker" 2>/dev/null; then
            echo "cycle $cycle: worker process $worker outlived the host"; kill -KILL "$worker"; exit 1
        fi
    done
    if [ "$processes" -gt 0 ]; then
        for worker in $workers; do
            if [ ! -s "$marker.$worker" ]; then
                echo "cycle $cycle: worker $worker did not finalize CPython (its atexit hook did not run)"; cat "$log"; exit 1
            fi
        done
    elif [ ! -s "$marker.$pid" ]; then
        echo "cycle $cycle: CPython was not finalized in the host (its atexit hook did not run)"; cat "$log"; exit 1
    fi
    echo "cycle $cycle: ok (up $(((stopping - started) / 1000000)) ms, stop $(((stopped - stopping) / 1000000)) ms)"
done
echo "$cycles of $cycles start/stop cycles clean (Processes=$processes)"

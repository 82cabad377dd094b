#!/usr/bin/env bash
# Measures the gateway against raw Kestrel (the same host's native routes) and against gunicorn and
# waitress, side by side in one run, interleaved round by round. Prints a table; exits 1 when a target
# of bench/README.md is missed. Never part of the test suite or CI.
#
#   bash bench/run.sh                 # 5 rounds, wrk -t1 -c32 -d10s, 1 GiB streams
#   ROUNDS=1 DURATION=3s bash bench/run.sh   # a quick look; the targets still apply
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

rounds="${ROUNDS:-5}"
duration="${DURATION:-10s}"
stream_bytes="${STREAM_BYTES:-1073741824}"
alloc_requests="${ALLOC_REQUESTS:-100000}"
alloc_duration="${ALLOC_DURATION:-4s}"
host_port=5180
gunicorn_port=5181
waitress_port=5182
flask_gunicorn_port=5183
processes_port=5184
scale1_port=5185
scale2_port=5186
gunicorn_scale1_port=5187
gunicorn_scale2_port=5188
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
command -v gunicorn >/dev/null || missing+=(gunicorn)
/usr/bin/python3 -c 'import waitress' 2>/dev/null || missing+=(python3-waitress)
/usr/bin/python3 -c 'import flask' 2>/dev/null || missing+=(python3-flask)
dpkg-query -W -f='${Status}' libpython3.11 2>/dev/null | grep -q "install ok installed" || missing+=(libpython3.11)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing ${missing[*]}" >&2
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "publishing samples/KestrelHost (Release)" >&2
dotnet publish samples/KestrelHost -c Release -o "$work/host" -v quiet -nologo >/dev/null

# Logging at Warning, as a production host would run; the allocation route only exists for this script.
# The host also serves PEP 3333's hello (bench/peers/hello_wsgi.py) in-process at /pyhello, through the Python bridge.
# This host runs Python in-process (Processes=0): the python-hello and flask-inprocess rows.
ASPNETCORE_URLS="http://127.0.0.1:$host_port" Logging__LogLevel__Default=Warning Bench__AllocationRoute=true \
    "$work/host/KestrelHost" --PythonGateway:Processes=0 \
    --PythonGateway:Paths:0="$root/bench/peers" --PythonApps:/pyhello=hello_wsgi:application \
    >"$work/host.log" 2>&1 &
host_pid=$!
pids+=("$host_pid")
declare -A server_pid=([native]="$host_pid" [gateway]="$host_pid" [flask-inprocess]="$host_pid" [python-hello]="$host_pid")

# The same sample with Python in worker processes (Debian's python3, as gunicorn runs): flask-processes, and
# the scaling rows pinned to one core (1 worker) and to both (2 workers). A host's costs include its workers.
processes_host() {
    local name="$1" port="$2" cpus="$3" processes="$4"
    # The thread pool's idle spinning is turned off here: on a box whose cores are busy with Python workers it
    # burns the CPU they need (README, "Choosing a mode").
    DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0 ASPNETCORE_URLS="http://127.0.0.1:$port" Logging__LogLevel__Default=Warning \
        taskset -c "$cpus" "$work/host/KestrelHost" --PythonGateway:Processes="$processes" \
        --PythonGateway:PythonExecutable=/usr/bin/python3 >"$work/$name.log" 2>&1 &
    pids+=($!)
    server_pid[$name]=$!
}
processes_host flask-processes "$processes_port" 0,1 2
processes_host scale-1cpu "$scale1_port" 0 1
processes_host scale-2cpu "$scale2_port" 0,1 2
gunicorn_scale() {
    local name="$1" port="$2" cpus="$3" workers="$4"
    taskset -c "$cpus" gunicorn --workers "$workers" --worker-class sync --bind "127.0.0.1:$port" \
        --chdir "$work/host/pyapps" --log-level warning hello_flask:app >"$work/$name.log" 2>&1 &
    pids+=($!)
    server_pid[$name]=$!
}
gunicorn_scale gunicorn-1cpu "$gunicorn_scale1_port" 0 1
gunicorn_scale gunicorn-2cpu "$gunicorn_scale2_port" 0,1 2
gunicorn --workers 2 --worker-class sync --bind "127.0.0.1:$gunicorn_port" --chdir "$root/bench/peers" \
    --log-level warning hello_wsgi:application >"$work/gunicorn.log" 2>&1 &
pids+=($!)
server_pid[gunicorn]=$!
# The sample's own Flask app (mounted in the host at /flask) on gunicorn, as its users run it today.
gunicorn --workers 2 --worker-class sync --bind "127.0.0.1:$flask_gunicorn_port" --chdir "$work/host/pyapps" \
    --log-level warning hello_flask:app >"$work/gunicorn-flask.log" 2>&1 &
pids+=($!)
server_pid[flask-gunicorn]=$!
(cd "$root/bench/peers" && exec /usr/bin/python3 -m waitress --listen="127.0.0.1:$waitress_port" --threads=4 \
    hello_wsgi:application) >"$work/waitress.log" 2>&1 &
pids+=($!)
server_pid[waitress]=$!

# A server's costs so far, summed over its processes (gunicorn's workers included) and all their threads:
# "CPU-ticks context-switches". Ticks are utime + stime from /proc/PID/stat; switches are the voluntary and
# involuntary ones of every thread in /proc/PID/task/*/status (threads that already ended are not counted).
clock_ticks="$(getconf CLK_TCK)"
costs() {
    local main="$1" pid ticks=0 switches=0 t s
    for pid in "$main" $(pgrep -P "$main" || true); do
        t="$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)"
        s="$(cat /proc/"$pid"/task/*/status 2>/dev/null | awk '/^(non)?voluntary_ctxt_switches:/ { n += $2 } END { print n + 0 }')"
        ticks=$((ticks + t))
        switches=$((switches + s))
    done
    echo "$ticks $switches"
}

wait_ready() {
    for _ in $(seq 1 100); do
        curl -fs -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "no answer from $1" >&2
    exit 1
}

native="http://127.0.0.1:$host_port/native/hello"
gateway="http://127.0.0.1:$host_port/"
gunicorn_url="http://127.0.0.1:$gunicorn_port/"
waitress_url="http://127.0.0.1:$waitress_port/"
flask_url="http://127.0.0.1:$host_port/flask/"
pyhello_url="http://127.0.0.1:$host_port/pyhello/"
flask_gunicorn_url="http://127.0.0.1:$flask_gunicorn_port/"
flask_processes_url="http://127.0.0.1:$processes_port/flask/"
scale1_url="http://127.0.0.1:$scale1_port/flask/"
scale2_url="http://127.0.0.1:$scale2_port/flask/"
gunicorn_scale1_url="http://127.0.0.1:$gunicorn_scale1_port/"
gunicorn_scale2_url="http://127.0.0.1:$gunicorn_scale2_port/"
for url in "$native" "$gateway" "$gunicorn_url" "$waitress_url" "$flask_url" "$flask_gunicorn_url" "$pyhello_url" \
    "$flask_processes_url" "$scale1_url" "$scale2_url" "$gunicorn_scale1_url" "$gunicorn_scale2_url"; do
    wait_ready "$url"
done

# wrk prints latencies as 123.45us, 1.20ms or 1.02s; the table uses microseconds.
to_us() {
    awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); print v }
           else if (v ~ /ms$/) { sub(/ms$/, "", v); print v * 1000 }
           else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000000 } }'
}

median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# One wrk run; appends "rps p50 p99" to $work/<name>.hello.
hello() {
    local name="$1" url="$2" out before after
    before="$(costs "${server_pid[$name]}")"
    out="$(wrk --latency -t1 -c32 -d"$duration" "$url")"
    after="$(costs "${server_pid[$name]}")"
    if grep -q 'Non-2xx' <<<"$out"; then
        echo "$name answered non-2xx responses:" >&2
        echo "$out" >&2
        exit 1
    fi
    local rps p50 p99 requests cpu switches
    rps="$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")"
    p50="$(awk '$1 == "50%" { print $2 }' <<<"$out" | to_us)"
    p99="$(awk '$1 == "99%" { print $2 }' <<<"$out" | to_us)"
    requests="$(awk '/requests in/ { print $1 }' <<<"$out")"
    read -r cpu switches < <(echo "$before $after" | awk -v n="$requests" -v hz="$clock_ticks" \
        '{ printf "%.1f %.2f\n", ($3 - $1) * 1000000 / hz / n, ($4 - $2) / n }')
    echo "$rps $p50 $p99 $cpu $switches" >>"$work/$name.hello"
    echo "  $name: $rps req/s, p50 ${p50}us, p99 ${p99}us, ${cpu} us CPU and ${switches} switches per request" >&2
}

# One download; appends bytes/s to $work/<name>.stream and, for the gateway, the server's peak RSS growth (KiB).
stream() {
    local name="$1" url="$2" before peak speed size costs_before costs_after cpu switches
    echo 5 >"/proc/$host_pid/clear_refs" # resets VmHWM, the peak resident set
    before="$(awk '/^VmRSS:/ { print $2 }' "/proc/$host_pid/status")"
    costs_before="$(costs "$host_pid")"
    read -r size speed < <(curl -fs -o /dev/null -w '%{size_download} %{speed_download}\n' "$url?bytes=$stream_bytes")
    costs_after="$(costs "$host_pid")"
    peak="$(awk '/^VmHWM:/ { print $2 }' "/proc/$host_pid/status")"
    if [ "$size" != "$stream_bytes" ]; then
        echo "$name sent $size of $stream_bytes bytes" >&2
        exit 1
    fi
    read -r cpu switches < <(echo "$costs_before $costs_after" | awk -v b="$stream_bytes" -v hz="$clock_ticks" \
        '{ printf "%.3f %.3f\n", ($3 - $1) / hz / (b / 1073741824), ($4 - $2) / (b / 65536) }')
    echo "$speed" >>"$work/$name.stream"
    echo "$cpu" >>"$work/$name.stream-cpu"
    echo "$switches" >>"$work/$name.stream-switches"
    echo "$((peak - before))" >>"$work/$name.rss"
    echo "  $name: $(awk -v s="$speed" 'BEGIN { printf "%.0f", s / 1048576 }') MiB/s, peak RSS +$((peak - before)) KiB, ${cpu} CPU s/GiB, ${switches} switches per 64 KiB" >&2
}

# Bytes the host allocated per request over a fixed count; appends to $work/<name>.alloc.
allocations() {
    local name="$1" url="$2" before after out count
    before="$(curl -fs "http://127.0.0.1:$host_port/native/allocated")"
    # counted.lua stops sending after the count; wrk itself still waits out -d, so keep -d short.
    out="$(BENCH_REQUESTS="$alloc_requests" wrk -t1 -c32 -d"$alloc_duration" -s "$root/bench/counted.lua" "$url")"
    after="$(curl -fs "http://127.0.0.1:$host_port/native/allocated")"
    count="$(awk '/requests in/ { print $1 }' <<<"$out")"
    echo "$(((after - before) / count))" >>"$work/$name.alloc"
}

# Runs one measurement for two servers, the first one first in odd rounds and second in even ones:
# alternating cancels a drift in the machine's load between the two sides of a comparison.
both() {
    local measure="$1"
    if [ $((round % 2)) -eq 1 ]; then
        "$measure" "$2" "$3"
        "$measure" "$4" "$5"
    else
        "$measure" "$4" "$5"
        "$measure" "$2" "$3"
    fi
}

echo "warming up" >&2
wrk -t1 -c32 -d3s "$native" >/dev/null
wrk -t1 -c32 -d3s "$gateway" >/dev/null
wrk -t1 -c32 -d3s "$flask_url" >/dev/null
wrk -t1 -c32 -d3s "$pyhello_url" >/dev/null
for url in "$flask_processes_url" "$scale1_url" "$scale2_url" "$gunicorn_scale1_url" "$gunicorn_scale2_url"; do
    wrk -t1 -c32 -d2s "$url" >/dev/null
done
curl -fs -o /dev/null "http://127.0.0.1:$host_port/native/stream?bytes=67108864"
curl -fs -o /dev/null "http://127.0.0.1:$host_port/stream?bytes=67108864"

for round in $(seq 1 "$rounds"); do
    echo "round $round of $rounds" >&2
    both hello native "$native" gateway "$gateway"
    hello gunicorn "$gunicorn_url"
    hello waitress "$waitress_url"
    hello python-hello "$pyhello_url"
    if [ $((round % 2)) -eq 1 ]; then
        hello flask-inprocess "$flask_url"; hello flask-processes "$flask_processes_url"; hello flask-gunicorn "$flask_gunicorn_url"
        hello scale-1cpu "$scale1_url"; hello scale-2cpu "$scale2_url"; hello gunicorn-1cpu "$gunicorn_scale1_url"; hello gunicorn-2cpu "$gunicorn_scale2_url"
    else
        hello flask-gunicorn "$flask_gunicorn_url"; hello flask-processes "$flask_processes_url"; hello flask-inprocess "$flask_url"
        hello gunicorn-2cpu "$gunicorn_scale2_url"; hello gunicorn-1cpu "$gunicorn_scale1_url"; hello scale-2cpu "$scale2_url"; hello scale-1cpu "$scale1_url"
    fi
    both stream native "http://127.0.0.1:$host_port/native/stream" gateway "http://127.0.0.1:$host_port/stream"
    allocations native "$native"
    allocations gateway "$gateway"
done

column_median() { awk -v c="$2" '{ print $c }' "$work/$1.hello" | median; }

rps_native="$(column_median native 1)"
p99_native="$(column_median native 3)"
stream_native="$(median <"$work/native.stream")"
stream_gateway="$(median <"$work/gateway.stream")"
rss_gateway="$(median <"$work/gateway.rss")"
alloc_native="$(median <"$work/native.alloc")"
alloc_gateway="$(median <"$work/gateway.alloc")"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo
echo "hello: wrk -t1 -c32 -d$duration, medians of $rounds interleaved rounds (python-hello: bench/peers/hello_wsgi.py in-process through the bridge)"
printf '%-12s %12s %10s %10s %12s %12s %12s %10s\n' server "req/s" "p50 us" "p99 us" "rps/native" "p99/native" "CPU us/req" "cs/req"
for name in native gateway python-hello gunicorn waitress; do
    rps="$(column_median "$name" 1)"
    p50="$(column_median "$name" 2)"
    p99="$(column_median "$name" 3)"
    printf '%-12s %12.0f %10.0f %10.0f %12s %12s %12.1f %10.2f\n' "$name" "$rps" "$p50" "$p99" "$(ratio "$rps" "$rps_native")" "$(ratio "$p99" "$p99_native")" \
        "$(column_median "$name" 4)" "$(column_median "$name" 5)"
done
echo
echo "Flask hello (samples/KestrelHost/pyapps/hello_flask.py): the adapter in-process and with 2 worker processes vs gunicorn --workers 2"
printf '%-15s %12s %10s %10s %14s %12s %10s\n' server "req/s" "p50 us" "p99 us" "rps/gunicorn" "CPU us/req" "cs/req"
rps_flask_gunicorn="$(column_median flask-gunicorn 1)"
for name in flask-inprocess flask-processes flask-gunicorn; do
    rps="$(column_median "$name" 1)"
    printf '%-15s %12.0f %10.0f %10.0f %14s %12.1f %10.2f\n' "$name" "$rps" "$(column_median "$name" 2)" "$(column_median "$name" 3)" "$(ratio "$rps" "$rps_flask_gunicorn")" \
        "$(column_median "$name" 4)" "$(column_median "$name" 5)"
done
echo
echo "scaling: Flask hello with the whole server pinned by taskset to one core (1 worker) and to both (2 workers)"
printf '%-15s %12s %12s %12s\n' server "1 core" "2 cores" "2/1"
scale_adapter="$(ratio "$(column_median scale-2cpu 1)" "$(column_median scale-1cpu 1)")"
scale_gunicorn="$(ratio "$(column_median gunicorn-2cpu 1)" "$(column_median gunicorn-1cpu 1)")"
printf '%-15s %12.0f %12.0f %12s\n' adapter "$(column_median scale-1cpu 1)" "$(column_median scale-2cpu 1)" "$scale_adapter"
printf '%-15s %12.0f %12.0f %12s\n' gunicorn "$(column_median gunicorn-1cpu 1)" "$(column_median gunicorn-2cpu 1)" "$scale_gunicorn"
echo
echo "streaming: $stream_bytes bytes per download, medians of $rounds"
printf '%-10s %12s %12s %14s %14s\n' server "MiB/s" "ratio" "CPU s/GiB" "cs/64KiB"
printf '%-10s %12.0f %12s %14s %14s\n' native "$(awk -v s="$stream_native" 'BEGIN { print s / 1048576 }')" 1.00 \
    "$(median <"$work/native.stream-cpu")" "$(median <"$work/native.stream-switches")"
printf '%-10s %12.0f %12s %14s %14s\n' gateway "$(awk -v s="$stream_gateway" 'BEGIN { print s / 1048576 }')" "$(ratio "$stream_gateway" "$stream_native")" \
    "$(median <"$work/gateway.stream-cpu")" "$(median <"$work/gateway.stream-switches")"
echo "gateway peak RSS growth during its download: $rss_gateway KiB"
echo
echo "allocations: bytes per hello request over $alloc_requests requests (fewer if -d$alloc_duration ran out), medians of $rounds"
echo "native $alloc_native, gateway $alloc_gateway, gateway above native $((alloc_gateway - alloc_native))"
echo

failed=0
check() {
    if awk "BEGIN { exit !($2) }"; then
        echo "met:    $1"
    else
        echo "MISSED: $1"
        failed=1
    fi
}
rps_gateway="$(column_median gateway 1)"
p99_gateway="$(column_median gateway 3)"
check "hello req/s gateway/native $(ratio "$rps_gateway" "$rps_native") >= 0.90" "$rps_gateway >= 0.9 * $rps_native"
check "hello p99 gateway/native $(ratio "$p99_gateway" "$p99_native") <= 1.20" "$p99_gateway <= 1.2 * $p99_native"
check "stream gateway/native $(ratio "$stream_gateway" "$stream_native") >= 0.90" "$stream_gateway >= 0.9 * $stream_native"
check "stream RSS growth $rss_gateway KiB <= 32768 KiB" "$rss_gateway <= 32 * 1024"
check "allocations above native $((alloc_gateway - alloc_native)) B <= 1024 B" "$alloc_gateway - $alloc_native <= 1024"
rps_pyhello="$(column_median python-hello 1)"
check "Python hello through the bridge/native $(ratio "$rps_pyhello" "$rps_native") >= 0.80" "$rps_pyhello >= 0.8 * $rps_native"
rps_flask="$(column_median flask-inprocess 1)"
check "Flask hello in-process/gunicorn $(ratio "$rps_flask" "$rps_flask_gunicorn") >= 1.50" "$rps_flask >= 1.5 * $rps_flask_gunicorn"
rps_processes="$(column_median flask-processes 1)"
p99_processes="$(column_median flask-processes 3)"
p99_flask_gunicorn="$(column_median flask-gunicorn 3)"
cpu_processes="$(column_median flask-processes 4)"
cpu_flask_gunicorn="$(column_median flask-gunicorn 4)"
check "Flask hello 2 worker processes/gunicorn $(ratio "$rps_processes" "$rps_flask_gunicorn") >= 1.50" "$rps_processes >= 1.5 * $rps_flask_gunicorn"
check "Flask hello p99 2 worker processes/gunicorn $(ratio "$p99_processes" "$p99_flask_gunicorn") <= 1.00" "$p99_processes <= $p99_flask_gunicorn"
check "Flask CPU per request, host and workers/gunicorn's master and workers $(ratio "$cpu_processes" "$cpu_flask_gunicorn") <= 0.80" "$cpu_processes <= 0.8 * $cpu_flask_gunicorn"
check "scaling 1 -> 2 cores, worker processes $scale_adapter >= 1.70 (gunicorn $scale_gunicorn)" "$scale_adapter >= 1.7"
exit "$failed"

#!/usr/bin/env bash
# Measures the gateway against raw Kestrel (the same host's native routes) and against gunicorn, uWSGI and
# waitress, side by side in one run, interleaved round by round. Python apps run in-process, in worker processes
# under the sample host, and under the `gateway` command as its users start it. Prints one table per group; exits 1
# when a target of bench/README.md (issue 20's for the worker-process rows) is missed. Never part of the test suite or CI.
#
#   bash bench/run.sh                 # 5 rounds, wrk -t1 -c32 -d10s, 1 GiB streams and uploads
#   ROUNDS=1 DURATION=2s STREAM_BYTES=67108864 LEAK_FIRST=5000 LEAK_TOTAL=20000 bash bench/run.sh   # a quick look; the targets still apply
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

rounds="${ROUNDS:-5}"
duration="${DURATION:-10s}"
stream_bytes="${STREAM_BYTES:-1073741824}"
alloc_requests="${ALLOC_REQUESTS:-100000}"
alloc_duration="${ALLOC_DURATION:-4s}"
idle_seconds="${IDLE_SECONDS:-10}"
leak_first_requests="${LEAK_FIRST:-50000}"
leak_total_requests="${LEAK_TOTAL:-300000}"
host_port=5180
gunicorn_port=5181
waitress_port=5182
flask_gunicorn_port=5183
processes_port=5184
scale1_port=5185
scale2_port=5186
gunicorn_scale1_port=5187
gunicorn_scale2_port=5188
flask_uwsgi_port=5189
flask_gateway_port=5190
httpbin_gateway_port=5191
httpbin_gunicorn_port=5192
httpbin_uwsgi_port=5193
uwsgi_scale1_port=5194
uwsgi_scale2_port=5195
bodies_gateway_port=5196
bodies_inprocess_port=5198
bodies_gunicorn_port=5197
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# Every Python server runs Debian's interpreter and packages, named by path: PATH may start with another python3
# (pyenv's, a virtualenv's) that lacks them.
python=/usr/bin/python3
gunicorn=/usr/bin/gunicorn
uwsgi=/usr/bin/uwsgi

missing=()
for package in wrk curl gunicorn python3-waitress python3-flask python3-httpbin libpython3.11 uwsgi uwsgi-plugin-python3; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing ${missing[*]}" >&2
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    # A fresh machine may have no package lists yet.
    $sudo_cmd apt-get update -qq >/dev/null
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
"$python" -c 'import flask, httpbin, waitress; httpbin.app' || {
    echo "$python cannot import flask, httpbin.app and waitress" >&2
    exit 1
}

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

echo "publishing samples/KestrelHost and src/Adapter.Cli (Release)" >&2
dotnet publish samples/KestrelHost -c Release -o "$work/host" -v quiet -nologo >/dev/null
dotnet publish src/Adapter.Cli -c Release -o "$work/cli" -v quiet -nologo >/dev/null
gateway_command="$work/cli/Adapter.Cli"

# The upload body: zero-filled and sparse, so making it costs nothing and reading it touches no disk.
upload_file="$work/upload.bin"
truncate -s "$stream_bytes" "$upload_file"

declare -A server_pid=()
# Starts one server in the background as NAME; its output goes to $work/NAME.log.
serve() {
    local name="$1"
    shift
    "$@" >"$work/$name.log" 2>&1 &
    pids+=($!)
    server_pid[$name]=$!
}

# Logging at Warning, as a production host would run; the allocation route only exists for this script.
# The host also serves PEP 3333's hello (bench/peers/hello_wsgi.py) in-process at /pyhello, through the Python bridge.
# This host runs Python in-process (Processes=0): the python-hello and flask-inprocess rows.
serve host env ASPNETCORE_URLS="http://127.0.0.1:$host_port" Logging__LogLevel__Default=Warning Bench__AllocationRoute=true \
    "$work/host/KestrelHost" --PythonGateway:Processes=0 --PythonGateway:PythonExecutable=/usr/bin/python3 \
    --PythonGateway:Paths:0="$root/bench/peers" --PythonApps:/pyhello=hello_wsgi:application
host_pid="${server_pid[host]}"
server_pid[native]="$host_pid"
server_pid[gateway]="$host_pid"
server_pid[flask-inprocess]="$host_pid"
server_pid[python-hello]="$host_pid"

# The same sample with Python in worker processes (Debian's python3, as gunicorn runs): flask-processes, and
# the scaling rows pinned to one core (1 worker) and to both (2 workers). A host's costs include its workers.
# These hosts used to run with DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0; it is no longer set (issue 20: the
# measured speed must need no environment variable), so they run as a user starts them.
processes_host() {
    local name="$1" port="$2" cpus="$3" processes="$4"
    serve "$name" env ASPNETCORE_URLS="http://127.0.0.1:$port" Logging__LogLevel__Default=Warning Bench__AllocationRoute=true \
        taskset -c "$cpus" "$work/host/KestrelHost" --PythonGateway:Processes="$processes" \
        --PythonGateway:PythonExecutable="$python"
}
processes_host flask-processes "$processes_port" 0,1 2
processes_host scale-1cpu "$scale1_port" 0 1
processes_host scale-2cpu "$scale2_port" 0,1 2

# gunicorn's sync workers, as its users run it.
gunicorn_server() {
    local name="$1" port="$2" cpus="$3" workers="$4" dir="$5" app="$6"
    shift 6
    serve "$name" taskset -c "$cpus" "$gunicorn" --workers "$workers" --worker-class sync --bind "127.0.0.1:$port" \
        --chdir "$dir" --log-level warning "$@" "$app"
}
# uWSGI's own C HTTP server (--http-socket, no router process in front), preforked from a master, request logging
# off. It closes the connection after each response without saying so: without the Connection: close header wrk
# sends its next request on the closed connection and counts a read error for each. With it, the client reconnects
# at once, as it does for gunicorn's sync workers (which send that header). --http11-socket keeps each connection in
# its worker, so 2 processes would serve 2 of wrk's 32 connections and leave the other 30 waiting.
uwsgi_server() {
    local name="$1" port="$2" cpus="$3" processes="$4" dir="$5" app="$6"
    serve "$name" taskset -c "$cpus" "$uwsgi" --plugin python3 --http-socket "127.0.0.1:$port" --processes "$processes" \
        --master --disable-logging --add-header "Connection: close" --need-app --die-on-term --chdir "$dir" --module "$app"
}
# The gateway command, as its users run it, with gunicorn's flags; the host is the command's own process.
gateway_server() {
    local name="$1" port="$2" dir="$3" app="$4"
    shift 4
    serve "$name" "$gateway_command" -w 2 -b "127.0.0.1:$port" --chdir "$dir" --python "$python" --log-level warning "$@" "$app"
}

gunicorn_server gunicorn "$gunicorn_port" 0,1 2 "$root/bench/peers" hello_wsgi:application
(cd "$root/bench/peers" && exec "$python" -m waitress --listen="127.0.0.1:$waitress_port" --threads=4 \
    hello_wsgi:application) >"$work/waitress.log" 2>&1 &
pids+=($!)
server_pid[waitress]=$!

# The sample's own Flask app (mounted in the hosts at /flask) on each server, as its users run it.
pyapps="$work/host/pyapps"
gunicorn_server flask-gunicorn "$flask_gunicorn_port" 0,1 2 "$pyapps" hello_flask:app
uwsgi_server flask-uwsgi "$flask_uwsgi_port" 0,1 2 "$pyapps" hello_flask:app
gateway_server flask-gateway "$flask_gateway_port" "$pyapps" hello_flask:app
gunicorn_server gunicorn-1cpu "$gunicorn_scale1_port" 0 1 "$pyapps" hello_flask:app
gunicorn_server gunicorn-2cpu "$gunicorn_scale2_port" 0,1 2 "$pyapps" hello_flask:app
uwsgi_server uwsgi-1cpu "$uwsgi_scale1_port" 0 1 "$pyapps" hello_flask:app
uwsgi_server uwsgi-2cpu "$uwsgi_scale2_port" 0,1 2 "$pyapps" hello_flask:app

# httpbin (Debian's python3-httpbin, a real Flask app), its /get: the request's headers and arguments as JSON.
gunicorn_server httpbin-gunicorn "$httpbin_gunicorn_port" 0,1 2 "$work" httpbin:app
uwsgi_server httpbin-uwsgi "$httpbin_uwsgi_port" 0,1 2 "$work" httpbin:app
gateway_server httpbin-gateway "$httpbin_gateway_port" "$work" httpbin:app

# Large bodies through a worker process (bench/peers/bodies_wsgi.py): a 1 GiB upload read to its end, a 1 GiB
# download from a generator. Both servers get a 300 s timeout, so a slow run is measured rather than cut at 30 s.
gateway_server bodies-gateway "$bodies_gateway_port" "$root/bench/peers" bodies_wsgi:application --timeout 300
# The same app in the gateway command's own CPython (-w 0, in-process; a later -w wins, as gunicorn's flags do).
gateway_server bodies-inprocess "$bodies_inprocess_port" "$root/bench/peers" bodies_wsgi:application --timeout 300 -w 0
gunicorn_server bodies-gunicorn "$bodies_gunicorn_port" 0,1 2 "$root/bench/peers" bodies_wsgi:application --timeout 300

# A server's costs so far, summed over its processes (gunicorn's and uWSGI's workers, the hosts' Python workers) and
# all their threads: "CPU-ticks context-switches main-process-CPU-ticks". Ticks are utime + stime from /proc/PID/stat;
# switches are the voluntary and involuntary ones of every thread in /proc/PID/task/*/status (threads that already
# ended are not counted). The last figure is the main process alone: the host without its workers.
clock_ticks="$(getconf CLK_TCK)"
costs() {
    local main="$1" pid ticks=0 switches=0 own=0 t s
    for pid in "$main" $(pgrep -P "$main" || true); do
        t="$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)"
        s="$(cat /proc/"$pid"/task/*/status 2>/dev/null | awk '/^(non)?voluntary_ctxt_switches:/ { n += $2 } END { print n + 0 }')"
        ticks=$((ticks + t))
        switches=$((switches + s))
        [ "$pid" != "$main" ] || own="$t"
    done
    echo "$ticks $switches $own"
}

wait_ready() {
    local name="$1" url="$2"
    for _ in $(seq 1 600); do
        curl -fs -o /dev/null "$url" && return 0
        sleep 0.1
    done
    echo "no answer from $name at $url; the end of $work/$name.log:" >&2
    tail -20 "$work/$name.log" >&2 || true
    exit 1
}

native="http://127.0.0.1:$host_port/native/hello"
gateway="http://127.0.0.1:$host_port/"
gunicorn_url="http://127.0.0.1:$gunicorn_port/"
waitress_url="http://127.0.0.1:$waitress_port/"
flask_url="http://127.0.0.1:$host_port/flask/"
pyhello_url="http://127.0.0.1:$host_port/pyhello/"
flask_gunicorn_url="http://127.0.0.1:$flask_gunicorn_port/"
flask_uwsgi_url="http://127.0.0.1:$flask_uwsgi_port/"
flask_gateway_url="http://127.0.0.1:$flask_gateway_port/"
flask_processes_url="http://127.0.0.1:$processes_port/flask/"
scale1_url="http://127.0.0.1:$scale1_port/flask/"
scale2_url="http://127.0.0.1:$scale2_port/flask/"
gunicorn_scale1_url="http://127.0.0.1:$gunicorn_scale1_port/"
gunicorn_scale2_url="http://127.0.0.1:$gunicorn_scale2_port/"
uwsgi_scale1_url="http://127.0.0.1:$uwsgi_scale1_port/"
uwsgi_scale2_url="http://127.0.0.1:$uwsgi_scale2_port/"
httpbin_gateway_url="http://127.0.0.1:$httpbin_gateway_port/get"
httpbin_gunicorn_url="http://127.0.0.1:$httpbin_gunicorn_port/get"
httpbin_uwsgi_url="http://127.0.0.1:$httpbin_uwsgi_port/get"
bodies_gateway_url="http://127.0.0.1:$bodies_gateway_port"
bodies_inprocess_url="http://127.0.0.1:$bodies_inprocess_port"
bodies_gunicorn_url="http://127.0.0.1:$bodies_gunicorn_port"
wait_ready host "$native"
wait_ready host "$gateway"
wait_ready host "$flask_url"
wait_ready host "$pyhello_url"
wait_ready gunicorn "$gunicorn_url"
wait_ready waitress "$waitress_url"
wait_ready flask-gunicorn "$flask_gunicorn_url"
wait_ready flask-uwsgi "$flask_uwsgi_url"
wait_ready flask-gateway "$flask_gateway_url"
wait_ready flask-processes "$flask_processes_url"
wait_ready scale-1cpu "$scale1_url"
wait_ready scale-2cpu "$scale2_url"
wait_ready gunicorn-1cpu "$gunicorn_scale1_url"
wait_ready gunicorn-2cpu "$gunicorn_scale2_url"
wait_ready uwsgi-1cpu "$uwsgi_scale1_url"
wait_ready uwsgi-2cpu "$uwsgi_scale2_url"
wait_ready httpbin-gateway "$httpbin_gateway_url"
wait_ready httpbin-gunicorn "$httpbin_gunicorn_url"
wait_ready httpbin-uwsgi "$httpbin_uwsgi_url"
wait_ready bodies-gateway "$bodies_gateway_url/download?bytes=1"
wait_ready bodies-inprocess "$bodies_inprocess_url/download?bytes=1"
wait_ready bodies-gunicorn "$bodies_gunicorn_url/download?bytes=1"
# Which interpreter each worker-process host runs, and how many workers (its children).
for name in flask-processes scale-1cpu scale-2cpu flask-gateway httpbin-gateway bodies-gateway; do
    echo "  $name: $(for pid in $(pgrep -P "${server_pid[$name]}"); do readlink "/proc/$pid/exe"; done | sort | uniq -c | xargs) (workers, by executable)" >&2
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

# One wrk run; appends "rps p50 p99 CPU-us/req switches/req main-process-CPU-us/req" to $work/<name>.hello.
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
    if grep -q 'Socket errors' <<<"$out"; then
        echo "  $name: wrk $(grep 'Socket errors' <<<"$out" | sed 's/^ *//')" >&2
    fi
    local rps p50 p99 requests cpu switches own
    rps="$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")"
    p50="$(awk '$1 == "50%" { print $2 }' <<<"$out" | to_us)"
    p99="$(awk '$1 == "99%" { print $2 }' <<<"$out" | to_us)"
    requests="$(awk '/requests in/ { print $1 }' <<<"$out")"
    read -r cpu switches own < <(echo "$before $after" | awk -v n="$requests" -v hz="$clock_ticks" \
        '{ printf "%.1f %.2f %.1f\n", ($4 - $1) * 1000000 / hz / n, ($5 - $2) / n, ($6 - $3) * 1000000 / hz / n }')
    echo "$rps $p50 $p99 $cpu $switches $own" >>"$work/$name.hello"
    echo "  $name: $rps req/s, p50 ${p50}us, p99 ${p99}us, ${cpu} us CPU (main process ${own} us) and ${switches} switches per request" >&2
}

# Peak RSS growth of a server's main process over one command: reset VmHWM (echo 5 > clear_refs), read VmRSS
# before and VmHWM after. Sets rss_growth (KiB).
rss_reset() {
    echo 5 >"/proc/$1/clear_refs"
    rss_before="$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status")"
}
rss_read() { rss_growth=$(($(awk '/^VmHWM:/ { print $2 }' "/proc/$1/status") - rss_before)); }

# One download; appends bytes/s to $work/<name>.stream, CPU s/GiB and switches per 64 KiB over the server and its
# children, and the main process's peak RSS growth (KiB).
stream() {
    local name="$1" url="$2" pid="${server_pid[$1]}" speed size costs_before costs_after cpu switches
    rss_reset "$pid"
    costs_before="$(costs "$pid")"
    read -r size speed < <(curl -fs -o /dev/null -w '%{size_download} %{speed_download}\n' "$url?bytes=$stream_bytes")
    costs_after="$(costs "$pid")"
    rss_read "$pid"
    if [ "$size" != "$stream_bytes" ]; then
        echo "$name sent $size of $stream_bytes bytes" >&2
        exit 1
    fi
    read -r cpu switches < <(echo "$costs_before $costs_after" | awk -v b="$stream_bytes" -v hz="$clock_ticks" \
        '{ printf "%.3f %.3f\n", ($4 - $1) / hz / (b / 1073741824), ($5 - $2) / (b / 65536) }')
    echo "$speed" >>"$work/$name.stream"
    echo "$cpu" >>"$work/$name.stream-cpu"
    echo "$switches" >>"$work/$name.stream-switches"
    echo "$rss_growth" >>"$work/$name.rss"
    echo "  $name download: $(awk -v s="$speed" 'BEGIN { printf "%.0f", s / 1048576 }') MiB/s, peak RSS +$rss_growth KiB, ${cpu} CPU s/GiB, ${switches} switches per 64 KiB" >&2
}

# One upload of $upload_file (curl -T streams it from disk, with no Expect: 100-continue round trip) to an app that
# reads wsgi.input to its end and answers the byte count; appends the seconds to $work/<name>.upload, CPU s/GiB over
# the server and its children, and the main process's peak RSS growth (KiB).
upload() {
    local name="$1" url="$2" pid="${server_pid[$1]}" out answer size seconds costs_before costs_after cpu
    rss_reset "$pid"
    costs_before="$(costs "$pid")"
    out="$(curl -fs -H 'Expect:' -T "$upload_file" -w '\n%{size_upload} %{time_total}\n' "$url")"
    costs_after="$(costs "$pid")"
    rss_read "$pid"
    answer="$(head -1 <<<"$out")"
    read -r size seconds < <(tail -1 <<<"$out")
    if [ "$size" != "$stream_bytes" ] || [ "$answer" != "$stream_bytes" ]; then
        echo "$name: sent $size of $stream_bytes bytes, the app read $answer" >&2
        exit 1
    fi
    cpu="$(echo "$costs_before $costs_after" | awk -v b="$stream_bytes" -v hz="$clock_ticks" '{ printf "%.3f", ($4 - $1) / hz / (b / 1073741824) }')"
    echo "$seconds" >>"$work/$name.upload"
    echo "$cpu" >>"$work/$name.upload-cpu"
    echo "$rss_growth" >>"$work/$name.upload-rss"
    echo "  $name upload: ${seconds} s, peak RSS +$rss_growth KiB, ${cpu} CPU s/GiB" >&2
}

# Bytes a host allocated per request over a fixed count (the host's /native/allocated); appends to $work/<name>.alloc.
allocations() {
    local name="$1" url="$2" counter="$3" before after out count
    before="$(curl -fs "$counter")"
    # counted.lua stops sending after the count; wrk itself still waits out -d, so keep -d short.
    out="$(BENCH_REQUESTS="$alloc_requests" wrk -t1 -c32 -d"$alloc_duration" -s "$root/bench/counted.lua" "$url")"
    after="$(curl -fs "$counter")"
    count="$(awk '/requests in/ { print $1 }' <<<"$out")"
    echo "$(((after - before) / count))" >>"$work/$name.alloc"
}

# Runs one measurement for each NAME URL pair, in this order in odd rounds and in the reverse order in even ones:
# alternating cancels a drift in the machine's load between the sides of a comparison.
in_turn() {
    local measure="$1" i
    shift
    local args=("$@")
    if [ $((round % 2)) -eq 1 ]; then
        for ((i = 0; i < ${#args[@]}; i += 2)); do "$measure" "${args[i]}" "${args[i + 1]}"; done
    else
        for ((i = ${#args[@]} - 2; i >= 0; i -= 2)); do "$measure" "${args[i]}" "${args[i + 1]}"; done
    fi
}

echo "warming up" >&2
wrk -t1 -c32 -d3s "$native" >/dev/null
wrk -t1 -c32 -d3s "$gateway" >/dev/null
wrk -t1 -c32 -d3s "$flask_url" >/dev/null
wrk -t1 -c32 -d3s "$pyhello_url" >/dev/null
for url in "$flask_processes_url" "$flask_gateway_url" "$flask_uwsgi_url" "$scale1_url" "$scale2_url" \
    "$gunicorn_scale1_url" "$gunicorn_scale2_url" "$uwsgi_scale1_url" "$uwsgi_scale2_url" \
    "$httpbin_gateway_url" "$httpbin_gunicorn_url" "$httpbin_uwsgi_url"; do
    wrk -t1 -c32 -d2s "$url" >/dev/null
done
curl -fs -o /dev/null "http://127.0.0.1:$host_port/native/stream?bytes=67108864"
curl -fs -o /dev/null "http://127.0.0.1:$host_port/stream?bytes=67108864"
curl -fs -o /dev/null "$bodies_gateway_url/download?bytes=67108864"
curl -fs -o /dev/null "$bodies_gunicorn_url/download?bytes=67108864"
curl -fs -o /dev/null "$bodies_inprocess_url/download?bytes=67108864"

for round in $(seq 1 "$rounds"); do
    echo "round $round of $rounds" >&2
    in_turn hello native "$native" gateway "$gateway"
    hello gunicorn "$gunicorn_url"
    hello waitress "$waitress_url"
    hello python-hello "$pyhello_url"
    in_turn hello flask-inprocess "$flask_url" flask-processes "$flask_processes_url" flask-gateway "$flask_gateway_url" \
        flask-gunicorn "$flask_gunicorn_url" flask-uwsgi "$flask_uwsgi_url"
    in_turn hello httpbin-gateway "$httpbin_gateway_url" httpbin-gunicorn "$httpbin_gunicorn_url" httpbin-uwsgi "$httpbin_uwsgi_url"
    in_turn hello scale-1cpu "$scale1_url" scale-2cpu "$scale2_url" gunicorn-1cpu "$gunicorn_scale1_url" \
        gunicorn-2cpu "$gunicorn_scale2_url" uwsgi-1cpu "$uwsgi_scale1_url" uwsgi-2cpu "$uwsgi_scale2_url"
    in_turn stream native "http://127.0.0.1:$host_port/native/stream" gateway "http://127.0.0.1:$host_port/stream"
    in_turn stream bodies-gateway "$bodies_gateway_url/download" bodies-gunicorn "$bodies_gunicorn_url/download"
    in_turn upload bodies-gateway "$bodies_gateway_url/upload" bodies-gunicorn "$bodies_gunicorn_url/upload"
    stream bodies-inprocess "$bodies_inprocess_url/download"
    upload bodies-inprocess "$bodies_inprocess_url/upload"
    allocations native "$native" "http://127.0.0.1:$host_port/native/allocated"
    allocations gateway "$gateway" "http://127.0.0.1:$host_port/native/allocated"
    allocations flask-processes "$flask_processes_url" "http://127.0.0.1:$processes_port/native/allocated"
done

# Issue 21: in-process, every byte of 1 GiB each way checked by SHA-256 (download: the app's 'x' blocks; upload: the
# zero-filled file, hashed by the app as it reads; through `gateway -w 0`), and the sample host's RSS after 300,000 Flask requests in-process
# against its level after the first 50,000 (a leak of a reference or a buffer per request shows there).
echo "in-process: SHA-256 of $stream_bytes B each way, then $leak_total_requests Flask requests" >&2
expected_down="$(head -c "$stream_bytes" /dev/zero | tr '\0' x | sha256sum | cut -d' ' -f1)"
expected_up="$(sha256sum <"$upload_file" | cut -d' ' -f1)"
sha_down="$(curl -fs "$bodies_inprocess_url/download?bytes=$stream_bytes" | sha256sum | cut -d' ' -f1)"
sha_up="$(curl -fs -H 'Expect:' -T "$upload_file" "$bodies_inprocess_url/upload-sha256")"
# counted.lua stops after the count, but wrk still waits out -d: -d is the count at 80 % of the rounds' Flask rate.
leak_rate="$(awk -v c=1 '{ print $c }' "$work/flask-inprocess.hello" | median)"
leak_requests() {
    local seconds
    seconds="$(awk -v n="$1" -v r="$leak_rate" 'BEGIN { printf "%d", n / (0.8 * r) + 2 }')"
    BENCH_REQUESTS="$1" wrk -t1 -c32 -d"${seconds}s" -s "$root/bench/counted.lua" "$flask_url" | awk '/requests in/ { print $1 }'
}
leak_first="$(leak_requests "$leak_first_requests")"
rss_50k="$(awk '/^VmRSS:/ { print $2 }' "/proc/$host_pid/status")"
leak_rest="$(leak_requests $((leak_total_requests - leak_first_requests)))"
rss_300k="$(awk '/^VmRSS:/ { print $2 }' "/proc/$host_pid/status")"
echo "  host RSS after $leak_first Flask requests: $rss_50k KiB; after $((leak_first + leak_rest)): $rss_300k KiB" >&2

# Idle cost: a 2 s burst on each Flask server at once, then every one of them left idle for IDLE_SECONDS, all in the
# same window: CPU % of one core and context switches per second, over the server and its children.
idle_names=(flask-processes flask-gateway flask-gunicorn flask-uwsgi)
echo "idle: a 2 s burst on ${idle_names[*]}, then ${idle_seconds} s idle" >&2
burst=()
for url in "$flask_processes_url" "$flask_gateway_url" "$flask_gunicorn_url" "$flask_uwsgi_url"; do
    wrk -t1 -c8 -d2s "$url" >/dev/null &
    burst+=($!)
done
for pid in "${burst[@]}"; do wait "$pid"; done
declare -A idle_before=()
for name in "${idle_names[@]}"; do idle_before[$name]="$(costs "${server_pid[$name]}")"; done
sleep "$idle_seconds"
for name in "${idle_names[@]}"; do
    echo "${idle_before[$name]} $(costs "${server_pid[$name]}")" | awk -v s="$idle_seconds" -v hz="$clock_ticks" \
        '{ printf "%.2f %.1f %.2f\n", ($4 - $1) * 100 / hz / s, ($5 - $2) / s, ($6 - $3) * 100 / hz / s }' >"$work/$name.idle"
done

column_median() { awk -v c="$2" '{ print $c }' "$work/$1.hello" | median; }

rps_native="$(column_median native 1)"
p99_native="$(column_median native 3)"
cpu_native="$(column_median native 4)"
stream_native="$(median <"$work/native.stream")"
stream_gateway="$(median <"$work/gateway.stream")"
rss_gateway="$(median <"$work/gateway.rss")"
alloc_native="$(median <"$work/native.alloc")"
alloc_gateway="$(median <"$work/gateway.alloc")"
alloc_processes="$(median <"$work/flask-processes.alloc")"

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

# One table of servers of the same app: ratios to the first and second peer named. "main us/req" is the main
# process alone: the host without its Python workers, gunicorn's or uWSGI's master (idle under load).
peer_table() {
    local first="$1" second="$2" name rps
    shift 2
    local rps_first rps_second
    rps_first="$(column_median "$first" 1)"
    rps_second="$(column_median "$second" 1)"
    printf '%-17s %10s %9s %9s %9s %9s %11s %12s %8s\n' server "req/s" "p50 us" "p99 us" "/${first#*-}" "/${second#*-}" "CPU us/req" "main us/req" "cs/req"
    for name in "$@"; do
        rps="$(column_median "$name" 1)"
        printf '%-17s %10.0f %9.0f %9.0f %9s %9s %11.1f %12.1f %8.2f\n' "$name" "$rps" "$(column_median "$name" 2)" "$(column_median "$name" 3)" \
            "$(ratio "$rps" "$rps_first")" "$(ratio "$rps" "$rps_second")" "$(column_median "$name" 4)" "$(column_median "$name" 6)" "$(column_median "$name" 5)"
    done
}
echo
echo "Flask hello (samples/KestrelHost/pyapps/hello_flask.py): the sample host in-process and with 2 worker processes, gateway -w 2,"
echo "gunicorn -w 2 (sync), uWSGI --processes 2 (http-socket); native hello's CPU per request for the host: $cpu_native us"
peer_table flask-gunicorn flask-uwsgi flask-inprocess flask-processes flask-gateway flask-gunicorn flask-uwsgi
echo
echo "httpbin /get (Debian's python3-httpbin): gateway -w 2, gunicorn -w 2, uWSGI --processes 2"
peer_table httpbin-gunicorn httpbin-uwsgi httpbin-gateway httpbin-gunicorn httpbin-uwsgi
echo
echo "scaling (report only): Flask hello with the whole server pinned by taskset to one core (1 worker) and to both (2 workers)"
printf '%-15s %12s %12s %12s\n' server "1 core" "2 cores" "2/1"
scale_adapter="$(ratio "$(column_median scale-2cpu 1)" "$(column_median scale-1cpu 1)")"
scale_gunicorn="$(ratio "$(column_median gunicorn-2cpu 1)" "$(column_median gunicorn-1cpu 1)")"
scale_uwsgi="$(ratio "$(column_median uwsgi-2cpu 1)" "$(column_median uwsgi-1cpu 1)")"
printf '%-15s %12.0f %12.0f %12s\n' adapter "$(column_median scale-1cpu 1)" "$(column_median scale-2cpu 1)" "$scale_adapter"
printf '%-15s %12.0f %12.0f %12s\n' gunicorn "$(column_median gunicorn-1cpu 1)" "$(column_median gunicorn-2cpu 1)" "$scale_gunicorn"
printf '%-15s %12.0f %12.0f %12s\n' uwsgi "$(column_median uwsgi-1cpu 1)" "$(column_median uwsgi-2cpu 1)" "$scale_uwsgi"
echo
echo "downloads: $stream_bytes bytes each, medians of $rounds (gateway: the host's C# /stream app; bodies-*: bench/peers/bodies_wsgi.py"
echo "in a Python worker process, bodies-inprocess in the host's CPython; RSS: the main process's peak growth, the host's for the gateway rows)"
printf '%-16s %10s %8s %11s %10s %10s\n' server "MiB/s" "ratio" "CPU s/GiB" "cs/64KiB" "RSS KiB"
for name in native gateway bodies-gateway bodies-gunicorn bodies-inprocess; do
    speed="$(median <"$work/$name.stream")"
    printf '%-16s %10.0f %8s %11s %10s %10s\n' "$name" "$(awk -v s="$speed" 'BEGIN { print s / 1048576 }')" "$(ratio "$speed" "$stream_native")" \
        "$(median <"$work/$name.stream-cpu")" "$(median <"$work/$name.stream-switches")" "$(median <"$work/$name.rss")"
done
echo
echo "uploads: $stream_bytes bytes each (curl -T), read to the end by bench/peers/bodies_wsgi.py (in a worker process; bodies-inprocess: in the host), medians of $rounds"
printf '%-16s %10s %10s %11s %10s\n' server "seconds" "MiB/s" "CPU s/GiB" "RSS KiB"
for name in bodies-gateway bodies-gunicorn bodies-inprocess; do
    seconds="$(median <"$work/$name.upload")"
    printf '%-16s %10.2f %10.0f %11s %10s\n' "$name" "$seconds" "$(awk -v s="$seconds" -v b="$stream_bytes" 'BEGIN { print b / s / 1048576 }')" \
        "$(median <"$work/$name.upload-cpu")" "$(median <"$work/$name.upload-rss")"
done
echo
echo "allocations: bytes per hello request over $alloc_requests requests (fewer if -d$alloc_duration ran out), medians of $rounds"
echo "native $alloc_native, gateway $alloc_gateway, gateway above native $((alloc_gateway - alloc_native)), flask-processes (the host alone) $alloc_processes"
echo
echo "in-process checks: SHA-256 down $sha_down, up $sha_up (expected $expected_down, $expected_up);"
echo "host RSS $rss_50k KiB after $leak_first Flask requests, $rss_300k KiB after $((leak_first + leak_rest))"
echo
echo "idle: ${idle_seconds} s right after a 2 s burst, over the server and its children (main: the main process alone)"
printf '%-16s %10s %10s %12s\n' server "CPU %" "cs/s" "main CPU %"
for name in "${idle_names[@]}"; do
    read -r idle_cpu idle_cs idle_own <"$work/$name.idle"
    printf '%-16s %10s %10s %12s\n' "$name" "$idle_cpu" "$idle_cs" "$idle_own"
done
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
rps_flask_gunicorn="$(column_median flask-gunicorn 1)"
rps_flask="$(column_median flask-inprocess 1)"

# Issue 21's targets for the in-process binding.
cpu_pyhello="$(column_median python-hello 4)"
check "python-hello host CPU per request $cpu_pyhello us <= native hello's $cpu_native us + 8" "$cpu_pyhello <= $cpu_native + 8"
check "Flask hello in-process / gunicorn -w 2 $(ratio "$rps_flask" "$rps_flask_gunicorn") >= 2.00" "$rps_flask >= 2.0 * $rps_flask_gunicorn"
cpu_flask="$(column_median flask-inprocess 4)"
cpu_flask_gunicorn="$(column_median flask-gunicorn 4)"
check "Flask hello in-process CPU per request / gunicorn's $(ratio "$cpu_flask" "$cpu_flask_gunicorn") <= 0.60" "$cpu_flask <= 0.6 * $cpu_flask_gunicorn"
check "in-process download SHA-256 matches" "$([ "$sha_down" = "$expected_down" ] && echo 1 || echo 0) == 1"
check "in-process upload SHA-256 matches" "$([ "$sha_up" = "$expected_up" ] && echo 1 || echo 0) == 1"
check "host RSS after $((leak_first + leak_rest)) Flask requests in-process $rss_300k KiB within 10 % of $rss_50k KiB after $leak_first" \
    "$rss_300k <= 1.1 * $rss_50k && $rss_300k >= 0.9 * $rss_50k"

# Issue 20's targets for worker processes, for the sample host (AddPythonGateway) and the gateway command alike.
rps_flask_uwsgi="$(column_median flask-uwsgi 1)"
p99_flask_gunicorn="$(column_median flask-gunicorn 3)"
cpu_flask_gunicorn="$(column_median flask-gunicorn 4)"
for name in flask-processes flask-gateway; do
    rps="$(column_median "$name" 1)"
    p99="$(column_median "$name" 3)"
    cpu="$(column_median "$name" 4)"
    own="$(column_median "$name" 6)"
    check "$name host CPU per request $own us <= native hello's $cpu_native us + 10" "$own <= $cpu_native + 10"
    check "$name req/s / gunicorn -w 2 $(ratio "$rps" "$rps_flask_gunicorn") >= 1.60" "$rps >= 1.6 * $rps_flask_gunicorn"
    check "$name req/s / uWSGI --processes 2 $(ratio "$rps" "$rps_flask_uwsgi") >= 1.00" "$rps >= $rps_flask_uwsgi"
    check "$name CPU per request, host and workers / gunicorn's master and workers $(ratio "$cpu" "$cpu_flask_gunicorn") <= 0.65" "$cpu <= 0.65 * $cpu_flask_gunicorn"
    check "$name p99 / gunicorn's $(ratio "$p99" "$p99_flask_gunicorn") <= 1.00" "$p99 <= $p99_flask_gunicorn"
done
rps_httpbin_gateway="$(column_median httpbin-gateway 1)"
rps_httpbin_gunicorn="$(column_median httpbin-gunicorn 1)"
check "httpbin /get gateway -w 2 / gunicorn -w 2 $(ratio "$rps_httpbin_gateway" "$rps_httpbin_gunicorn") >= 1.30" "$rps_httpbin_gateway >= 1.3 * $rps_httpbin_gunicorn"
rss_download="$(median <"$work/bodies-gateway.rss")"
rss_upload="$(median <"$work/bodies-gateway.upload-rss")"
check "gateway host RSS growth, $stream_bytes B download from a worker process: $rss_download KiB <= 32768 KiB" "$rss_download <= 32 * 1024"
check "gateway host RSS growth, $stream_bytes B upload to a worker process: $rss_upload KiB <= 32768 KiB" "$rss_upload <= 32 * 1024"
upload_gateway="$(median <"$work/bodies-gateway.upload")"
upload_gunicorn="$(median <"$work/bodies-gunicorn.upload")"
check "upload through a worker process $(printf '%.2f' "$upload_gateway") s <= gunicorn's $(printf '%.2f' "$upload_gunicorn") s" "$upload_gateway <= $upload_gunicorn"
check "flask-processes host allocations per request $alloc_processes B <= 2048 B" "$alloc_processes <= 2048"
for name in flask-processes flask-gateway; do
    read -r idle_cpu idle_cs _ <"$work/$name.idle"
    check "$name idle CPU $idle_cpu % <= 0.1 % (1 tick in ${idle_seconds} s is $(awk -v s="$idle_seconds" -v hz="$clock_ticks" 'BEGIN { printf "%.2f", 100 / hz / s }') %)" "$idle_cpu <= 0.1"
    check "$name idle context switches $idle_cs/s <= 50/s" "$idle_cs <= 50"
done
echo "report: scaling 1 -> 2 cores, worker processes $scale_adapter, gunicorn $scale_gunicorn, uWSGI $scale_uwsgi (no target on 2 cores: wrk takes part of the second)"
exit "$failed"

#!/usr/bin/env bash
# Two `gateway` instances behind Debian's nginx, on loopback: a bounded load through nginx, one instance
# stopped with SIGTERM in the middle of it. Prints the failed requests (target 0) and what the app saw of
# its client (REMOTE_ADDR, wsgi.url_scheme, HTTP_HOST: the client's, not nginx's). Exits 1 on a failure.
#
#   bash samples/scale-out/run.sh            # 12 s of wrk -c16; the first instance stops after 4 s
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
front=8300 port1=8301 port2=8302
duration="${DURATION:-12}"
work="$(mktemp -d)"
pids=()
cleanup() {
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
if [ "${#missing[@]}" -gt 0 ]; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
nginx="$(command -v nginx || echo /usr/sbin/nginx)"

echo "publishing src/Adapter.Cli (Release)" >&2
dotnet publish "$root/src/Adapter.Cli" -c Release -o "$work/cli" -v quiet -nologo >/dev/null

for port in "$port1" "$port2"; do
    PythonGateway__PythonExecutable=/usr/bin/python3 "$work/cli/Adapter.Cli" whoami:app -b "127.0.0.1:$port" \
        --workers 2 --chdir "$here" --forwarded-allow-ips 127.0.0.1 --graceful-timeout 10 >"$work/gateway-$port.log" 2>&1 &
    pids+=($!)
done
for port in "$port1" "$port2"; do
    for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done

mkdir -p "$work/client_body" "$work/proxy" "$work/fastcgi" "$work/uwsgi" "$work/scgi"
sed -e "s|@WORK@|$work|g" -e "s|@PORT1@|$port1|g" -e "s|@PORT2@|$port2|g" -e "s|@FRONT@|$front|g" \
    "$here/nginx.conf.template" >"$work/nginx.conf"
"$nginx" -c "$work/nginx.conf" -p "$work"
for _ in $(seq 1 50); do curl -fs -o /dev/null "http://127.0.0.1:$front/" && break; sleep 0.1; done

# The client as the app sees it: from another loopback address than nginx's, with its own Host.
seen="$(curl -fs --interface 127.0.0.2 -H 'Host: shop.example' "http://127.0.0.1:$front/")"
echo "app saw: $seen"

echo "load: wrk -t1 -c16 -d${duration}s through nginx; SIGTERM to the instance on :$port1 after 4 s" >&2
( sleep 4; kill -TERM "${pids[0]}" ) &
out="$(wrk -t1 -c16 -d"${duration}s" "http://127.0.0.1:$front/")"
requests="$(awk '/requests in/ { print $1 }' <<<"$out")"
non2xx="$(awk '/Non-2xx/ { print $NF }' <<<"$out")"
socket="$(awk '/Socket errors/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' <<<"$out")"
failed=$(( ${non2xx:-0} + ${socket:-0} ))
status=0
wait "${pids[0]}" || status=$?
echo "requests: $requests, failed: $failed (non-2xx ${non2xx:-0}, socket errors ${socket:-0}); the stopped instance exited with $status"

ok=1
[ "$failed" -eq 0 ] || ok=0
[ "$status" -eq 0 ] || ok=0
grep -q "remote=127.0.0.2 scheme=http host=shop.example" <<<"$seen" || ok=0
if [ "$ok" -eq 1 ]; then
    echo "scale-out: ok"
else
    echo "scale-out: FAILED"
    tail -20 "$work/gateway-$port1.log" "$work/nginx-error.log" >&2 || true
    exit 1
fi

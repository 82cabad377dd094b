"""What a worker process costs per request beyond the app: drives src/Adapter.Python/Processes/gateway_worker.py
over its real channel (stdin and stdout pipes, as the host starts it), one request at a time, and compares the
worker's CPU per request with the app's own, called directly with a prebuilt environ.

    /usr/bin/python3 bench/worker_overhead.py [-n 50000] [--rounds 5] [--app hello|flask|both] [--against REV]
                                              [--cpus any|same|split] [--app-in-worker]

Debian's python3 (Flask from python3-flask). This script plays the host: it loads the app with an L frame, then
sends a pre-encoded R frame (the environ PythonEnviron.Encode makes for a browser's GET, 22 keys) and reads the
frames back until Z. The worker's CPU comes from /proc/PID/task/*/schedstat (nanoseconds, all its threads), its
system calls from /proc/PID/io; this driver's own CPU and reads per response show what the worker's writes cost the
host (each read is a wake-up). Each round runs the worker's requests and the app alone one after the other; the
medians are reported. With --against REV, a worker made of that git revision's two Python files runs too, in the
same rounds, in turns (first in odd rounds): on a shared machine only figures from the same run compare. --cpus same
puts this driver and the workers on CPU 0, as on a busy box where the host and a worker share a core and each
hand-off is a context switch; split puts the workers on CPU 1, as on an idle box. With --app-in-worker, one more
worker serves the app through timed_app, which times the app's own call (thread CPU time) inside the worker: an app
runs slower there than in a loop of its own (its caches go cold while the process sleeps between requests), and that
part of the overhead is the app's.
"""
import argparse
import io
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BRIDGE = os.path.join(ROOT, "src", "Adapter.Python")
WORKER = os.path.join(BRIDGE, "Processes", "gateway_worker.py")
APPS = {
    "hello": (os.path.join(ROOT, "bench", "peers"), "hello_wsgi"),
    "flask": (os.path.join(ROOT, "samples", "KestrelHost", "pyapps"), "hello_flask:app"),
}

# As PythonEnviron.Encode lists them for GET / from a browser through Kestrel: the text entries, then the others.
STRINGS = [
    ("REQUEST_METHOD", "GET"), ("SCRIPT_NAME", ""), ("PATH_INFO", "/"), ("QUERY_STRING", ""),
    ("SERVER_NAME", "127.0.0.1"), ("SERVER_PORT", "5180"), ("SERVER_PROTOCOL", "HTTP/1.1"),
    ("REMOTE_ADDR", "127.0.0.1"), ("REMOTE_PORT", "48712"), ("REQUEST_URI", "/"), ("wsgi.url_scheme", "http"),
    ("HTTP_HOST", "127.0.0.1:5180"),
    ("HTTP_USER_AGENT", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
    ("HTTP_ACCEPT", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("HTTP_ACCEPT_ENCODING", "gzip, deflate, br"), ("HTTP_ACCEPT_LANGUAGE", "en-GB,en;q=0.5"),
    ("SERVER_SOFTWARE", "Adapter/1.0.0 Kestrel"),
]
OTHERS = [("wsgi.version", "v"), ("wsgi.multithread", "T"), ("wsgi.multiprocess", "F"), ("wsgi.run_once", "F"),
          ("wsgi.input_terminated", "T")]
_HEADER = struct.Struct(">cI")


def frame(kind, payload=b""):
    return _HEADER.pack(kind, len(payload)) + payload


def request_frame(index=0, path="/"):
    strings = "\0".join("%s\0%s" % (key, path if key == "PATH_INFO" else value) for key, value in STRINGS).encode()
    others = "\0".join("%s\0%s" % pair for pair in OTHERS).encode()
    return frame(b"R", struct.pack(">II", index, len(strings)) + strings + others)


class Worker:
    cpu = None

    def __init__(self, app, bridge=BRIDGE, script=WORKER, timed=False):
        folder, target = APPS[app]
        environment = dict(os.environ)
        if timed:
            folder, target = os.path.dirname(os.path.abspath(__file__)), "worker_overhead:timed_app"
            environment[TIMED_APP] = app
        cpu = Worker.cpu
        self.process = subprocess.Popen([sys.executable, "-u", script, bridge, folder], env=environment,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
                                        preexec_fn=None if cpu is None else lambda: os.sched_setaffinity(0, {cpu}))
        self.out = self.process.stdin.fileno()
        self.inp = self.process.stdout.fileno()
        self.buffer = bytearray()
        self.reads = 0
        os.write(self.out, frame(b"L", struct.pack(">I", 0) + target.encode()))
        kind, payload = self.receive()
        if kind != b"K":
            raise SystemExit("loading %s failed: %s" % (target, payload.decode(errors="replace")))

    def receive(self):
        while True:
            if len(self.buffer) >= 5:
                kind, length = _HEADER.unpack_from(self.buffer)
                if len(self.buffer) >= 5 + length:
                    payload = bytes(self.buffer[5:5 + length])
                    del self.buffer[:5 + length]
                    return kind, payload
            data = os.read(self.inp, 65536)
            self.reads += 1
            if not data:
                raise SystemExit("the worker ended: exit %s" % self.process.wait())
            self.buffer += data

    def serve(self, request, count):
        for _ in range(count):
            os.write(self.out, request)
            while True:
                kind, payload = self.receive()
                if kind == b"Z":
                    break
                if kind == b"X":
                    raise SystemExit("the app failed: " + payload.decode(errors="replace"))

    def app_cpu(self):
        """(nanoseconds, calls) that timed_app counted so far."""
        os.write(self.out, request_frame(path=APP_CPU_PATH))
        body = b""
        while True:
            kind, payload = self.receive()
            if kind == b"B":
                body += payload
            elif kind == b"Z":
                total, calls = body.split()
                return int(total), int(calls)

    def cpu_ns(self):
        total = 0
        for task in os.listdir("/proc/%d/task" % self.process.pid):
            with open("/proc/%d/task/%s/schedstat" % (self.process.pid, task)) as f:
                total += int(f.read().split()[0])
        return total

    def syscalls(self):
        with open("/proc/%d/io" % self.process.pid) as f:
            fields = dict(line.split(": ") for line in f.read().splitlines())
        return int(fields["syscr"]), int(fields["syscw"])

    def close(self):
        self.process.stdin.close()
        self.process.wait(10)


def measure_worker(worker, request, count):
    reads0, (syscr0, syscw0) = worker.reads, worker.syscalls()
    cpu0, wall0, host0 = worker.cpu_ns(), time.perf_counter(), time.process_time()
    worker.serve(request, count)
    wall, cpu, host = time.perf_counter() - wall0, worker.cpu_ns() - cpu0, time.process_time() - host0
    syscr, syscw = worker.syscalls()
    return {"cpu": cpu / 1e3 / count, "wall": wall * 1e6 / count, "syscr": (syscr - syscr0) / count,
            "syscw": (syscw - syscw0) / count, "reads": (worker.reads - reads0) / count, "host": host * 1e6 / count}


TIMED_APP = "WORKER_OVERHEAD_APP"
APP_CPU_PATH = "/worker-overhead/app-cpu"
_timed = {"app": None, "ns": 0, "calls": 0}


def timed_app(environ, start_response):
    """The app named by WORKER_OVERHEAD_APP, its call timed in thread CPU time; APP_CPU_PATH answers the totals."""
    if environ["PATH_INFO"] == APP_CPU_PATH:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"%d %d" % (_timed["ns"], _timed["calls"])]
    if _timed["app"] is None:
        _timed["app"] = load_app(os.environ[TIMED_APP])
    start = time.thread_time_ns()
    result = _timed["app"](environ, start_response)
    _timed["ns"] += time.thread_time_ns() - start
    _timed["calls"] += 1
    return result


def load_app(app):
    folder, target = APPS[app]
    sys.path.insert(0, folder)
    module, _, name = target.partition(":")
    return getattr(__import__(module), name or "application")


def measure_app(app, count, timed=False):
    """The app alone: a copy of a prebuilt environ, start_response doing nothing, the iterable read and closed.
    ``timed``: the bridge's start_response, and only the app's call counted, in thread CPU time, as timed_app
    counts it inside a worker."""
    base = dict(STRINGS)
    base.update({"wsgi.version": (1, 0), "wsgi.multithread": False, "wsgi.multiprocess": True,
                 "wsgi.run_once": False, "wsgi.input_terminated": True, "wsgi.errors": sys.stderr})
    if timed:
        sys.path.insert(0, BRIDGE)
        import adapter_bridge

    def start_response(status, headers, exc_info=None):
        return None

    counted = 0
    cpu0 = time.process_time()
    for _ in range(count):
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO()
        if timed:
            start = time.thread_time_ns()
            result = app(environ, adapter_bridge._Request(0).start_response)
            counted += time.thread_time_ns() - start
        else:
            result = app(environ, start_response)
        for _chunk in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return (counted / 1e3 if timed else (time.process_time() - cpu0) * 1e6) / count


def checkout(revision, folder):
    """The worker's two files at a git revision, in ``folder``; returns (bridge folder, worker script)."""
    for path in ("src/Adapter.Python/adapter_bridge.py", "src/Adapter.Python/Processes/gateway_worker.py"):
        text = subprocess.run(["git", "-C", ROOT, "show", "%s:%s" % (revision, path)], check=True,
                              capture_output=True).stdout
        with open(os.path.join(folder, os.path.basename(path)), "wb") as f:
            f.write(text)
    return folder, os.path.join(folder, "gateway_worker.py")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=50000, help="requests per round (50000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, medians reported (5)")
    parser.add_argument("--app", choices=["hello", "flask", "both"], default="both")
    parser.add_argument("--against", metavar="REV", help="also run the worker of this git revision, in turns")
    parser.add_argument("--cpus", choices=["any", "same", "split"], default="any",
                        help="any: where the scheduler puts them; same: driver and workers on CPU 0; split: workers on 1")
    parser.add_argument("--app-in-worker", action="store_true", help="also time the app's own call inside a worker")
    args = parser.parse_args()
    if args.cpus != "any":
        os.sched_setaffinity(0, {0})
        Worker.cpu = 0 if args.cpus == "same" else 1
    request = request_frame()
    variants = [("worktree", BRIDGE, WORKER)]
    if args.against:
        variants.append((args.against,) + checkout(args.against, tempfile.mkdtemp(prefix="worker-overhead-")))
    print("python %s, %d requests x %d rounds, medians, CPUs %s; us per request (reads and writes: the worker's system"
          " calls; h.cpu and h.reads: this driver's CPU and reads, a Python stand-in for the host)"
          % (sys.version.split()[0], args.n, args.rounds, args.cpus))
    print("%-6s %-10s %9s %9s %9s %9s %7s %7s %7s %7s" % (
        "app", "worker", "worker", "app", "overhead", "wall", "reads", "writes", "h.cpu", "h.reads"))
    for name in (["hello", "flask"] if args.app == "both" else [args.app]):
        app = load_app(name)
        workers = [Worker(name, bridge, script) for _label, bridge, script in variants]
        for worker in workers:
            measure_worker(worker, request, min(args.n, 5000))
        measure_app(app, min(args.n, 5000))
        rows = [[] for _ in variants]
        for round_ in range(args.rounds):
            alone = measure_app(app, args.n)
            order = range(len(variants)) if round_ % 2 == 0 else reversed(range(len(variants)))
            for index in order:
                row = measure_worker(workers[index], request, args.n)
                row["app"] = alone
                row["overhead"] = row["cpu"] - alone
                rows[index].append(row)
        for worker in workers:
            worker.close()
        for (label, _bridge, _script), runs in zip(variants, rows):
            med = {key: statistics.median(row[key] for row in runs) for key in runs[0]}
            print("%-6s %-10s %9.1f %9.1f %9.1f %9.1f %7.2f %7.2f %7.1f %7.2f" % (
                name, label[:10], med["cpu"], med["app"], med["overhead"], med["wall"], med["syscr"], med["syscw"],
                med["host"], med["reads"]))
            print("%-17s overhead per round: %s" % ("", " ".join("%.1f" % row["overhead"] for row in runs)))
        if args.app_in_worker:
            timed = Worker(name, timed=True)
            measure_worker(timed, request, min(args.n, 5000))
            inside, alone = [], []
            for _round in range(args.rounds):
                total0, calls0 = timed.app_cpu()
                measure_worker(timed, request, args.n)
                total1, calls1 = timed.app_cpu()
                inside.append((total1 - total0) / 1e3 / (calls1 - calls0))
                alone.append(measure_app(app, args.n, timed=True))
            timed.close()
            print("%-17s the app's call (start_response and two clock reads included): %.1f us inside a worker, "
                  "%.1f in a loop of its own" % ("", statistics.median(inside), statistics.median(alone)))


if __name__ == "__main__":
    main()

"""WSGI apps for the interpreter and gunicorn-flag tests: which Python runs the app, and a barrier that shows how many
requests are inside the app at once."""
import os
import sys
import threading
from urllib.parse import parse_qs

_barriers = {}
_barriers_lock = threading.Lock()


def _text(start_response, text):
    body = text.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def executable_app(environ, start_response):
    """The running interpreter: sys.executable and sys.prefix, one per line."""
    return _text(start_response, "%s\n%s" % (sys.executable, sys.prefix))


def barrier_app(environ, start_response):
    """?n=N: waits (up to 10 s) until N requests of this process are inside the app at once, then answers
    'together' (or 'apart' when they never were), the pid and wsgi.multithread."""
    query = {key: values[0] for key, values in parse_qs(environ.get("QUERY_STRING", "")).items()}
    count = int(query.get("n", "2"))
    with _barriers_lock:
        barrier = _barriers.setdefault(count, threading.Barrier(count))
    try:
        barrier.wait(timeout=10)
        outcome = "together"
    except threading.BrokenBarrierError:
        outcome = "apart"
    return _text(start_response, "%s %d %s" % (outcome, os.getpid(), environ["wsgi.multithread"]))


def env_app(environ, start_response):
    """?name=NAME: that environment variable of the process, or '-'."""
    name = parse_qs(environ.get("QUERY_STRING", "")).get("name", [""])[0]
    return _text(start_response, os.environ.get(name, "-"))

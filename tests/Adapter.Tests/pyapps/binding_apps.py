"""Apps for InProcessBindingTests: what the C-API binding owes an in-process app (pyapps/binding_apps.py)."""
import sys
import threading

# What the apps saw, read back by a later request (one interpreter per test process: keyed by the test's token).
_seen = {}


def _text(start_response, text):
    body = text.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _thread_name():
    with open("/proc/self/task/%d/comm" % threading.get_native_id()) as comm:
        return comm.read().strip()


def report_app(environ, start_response):
    """GET /report?TOKEN: what was recorded under TOKEN."""
    return _text(start_response, repr(_seen.get(environ["QUERY_STRING"])))


def write_until_gone_app(environ, start_response):
    """write() 64 KiB blocks until write() raises (the client gone); records the exception's type under the token."""
    if environ["PATH_INFO"] == "/report":
        return report_app(environ, start_response)
    token = environ["QUERY_STRING"]
    write = start_response("200 OK", [("Content-Type", "application/octet-stream")])
    block = b"w" * 65536
    try:
        for _ in range(100000):
            write(block)
        _seen[token] = "never raised"
    except Exception as error:  # the test asserts which
        _seen[token] = type(error).__name__
        raise
    return []


class _Tracked:
    """An iterable that records, as it is freed, the thread that freed it."""

    def __init__(self, token):
        self.token = token

    def __iter__(self):
        yield b"tracked"

    def __del__(self):
        _seen[self.token] = _thread_name()


def released_app(environ, start_response):
    if environ["PATH_INFO"] == "/report":
        return report_app(environ, start_response)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return _Tracked(environ["QUERY_STRING"])


def start_response_types_app(environ, start_response):
    """Calls start_response wrongly in the way the query names; answers what was raised inside the app."""
    case = environ["QUERY_STRING"]
    calls = {
        "status-bytes": lambda: start_response(b"200 OK", []),
        "headers-tuple": lambda: start_response("200 OK", (("A", "b"),)),
        "header-not-pair": lambda: start_response("200 OK", [("A", "b", "c")]),
        "header-value-int": lambda: start_response("200 OK", [("Content-Length", 5)]),
        "status-invalid": lambda: start_response("20 OK", []),
        "hop-by-hop": lambda: start_response("200 OK", [("Connection", "close")]),
        "twice": lambda: (start_response("200 OK", []), start_response("200 OK", [])),
        "unknown-keyword": lambda: start_response("200 OK", [], info=None),
        "keyword-exc-info": lambda: start_response("201 Created", [], exc_info=None),
    }
    try:
        calls[case]()
    except Exception as error:  # the test asserts which
        answer = "%s: %s" % (type(error).__name__, error)
        try:
            start_response("200 OK", [("Content-Type", "text/plain")], sys.exc_info())
        except Exception:
            pass
        return [answer.encode()]
    return [b"accepted"]


def generator_not_bytes_app(environ, start_response):
    start_response("200 OK", [])
    yield b""
    yield "text, not bytes"



def slow_body_app(environ, start_response):
    """/read: reads the whole body (the test sends it slowly); /quick: answers at once, while a read is pending."""
    if environ["PATH_INFO"] == "/quick":
        return _text(start_response, "quick")
    data = environ["wsgi.input"].read()
    return _text(start_response, "read %d" % len(data))


def big_body_app(environ, start_response):
    """/big: two 16 MiB chunks from a generator, more than the sockets hold (the client is slow to take them);
    /quick: answers at once."""
    if environ["PATH_INFO"] == "/quick":
        return _text(start_response, "quick")
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(32 << 20))])
    return (b"b" * (16 << 20) for _ in range(2))

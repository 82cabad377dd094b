"""Plain WSGI apps that probe the bridge itself: the environ, wsgi.input, start_response, write, close."""
import json
import sys
import threading

closed = []
_local = threading.local()


def environ_app(environ, start_response):
    keys = {}
    for key, value in environ.items():
        if isinstance(value, str):
            keys[key] = value
        elif isinstance(value, (bool, tuple)):
            keys[key] = repr(value)
        else:
            keys[key] = type(value).__name__
    body = json.dumps(keys, sort_keys=True).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def input_app(environ, start_response):
    stream = environ["wsgi.input"]
    mode = environ["QUERY_STRING"]
    if mode == "read":
        parts = [stream.read()]
    elif mode == "read-n":
        parts = []
        while True:
            block = stream.read(3)
            if not block:
                break
            parts.append(block + b"|")
    elif mode == "readline":
        parts = [stream.readline(), b"|", stream.readline(4), b"|", stream.read()]
    elif mode == "readlines":
        parts = [b"|".join(stream.readlines())]
    else:
        parts = [b"|".join(line for line in stream)]
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [b"".join(parts)]


def errors_app(environ, start_response):
    environ["wsgi.errors"].write("first line from python\n")
    environ["wsgi.errors"].writelines(["second ", "line\n"])
    environ["wsgi.errors"].flush()
    start_response("200 OK", [])
    return [b"logged"]


def bad_header_app(environ, start_response):
    try:
        start_response("200 OK", [("X-Bad", "evil\r\nInjected: yes")])
    except ValueError as error:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [("ValueError: %s" % error).encode()]
    start_response("500 Internal Server Error", [])
    return [b"accepted a bad header"]


def type_error_app(environ, start_response):
    try:
        start_response("200 OK", {"Content-Type": "text/plain"})
    except TypeError as error:
        start_response("200 OK", [])
        return [("TypeError: %s" % error).encode()]
    return [b"accepted a dict"]


def exc_info_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-First", "yes")])
    try:
        raise KeyError("late")
    except KeyError:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"replaced"]


def write_app(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written ")
    return [b"then ", b"yielded"]


class ClosingBody:
    def __init__(self, name):
        self.name = name

    def __iter__(self):
        yield b"one "
        yield b"two"

    def close(self):
        closed.append(self.name)


def closing_app(environ, start_response):
    start_response("200 OK", [])
    return ClosingBody(environ["QUERY_STRING"])


def closed_count(environ, start_response):
    start_response("200 OK", [])
    return [str(closed.count(environ["QUERY_STRING"])).encode()]


def failing_app(environ, start_response):
    raise LookupError("python app failed on purpose")


def failing_late_app(environ, start_response):
    start_response("200 OK", [])
    yield b"partial"
    raise LookupError("python app failed after its headers")


def not_bytes_app(environ, start_response):
    start_response("200 OK", [])
    return ["text, not bytes"]


def local_app(environ, start_response):
    _local.count = getattr(_local, "count", 0) + 1
    start_response("200 OK", [])
    return [("%d %d" % (threading.get_ident(), _local.count)).encode()]


def stream_app(environ, start_response):
    count = int(environ["QUERY_STRING"] or "3")
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    block = b"x" * 65536
    for _ in range(count):
        yield block


def file_wrapper_app(environ, start_response):
    import io
    start_response("200 OK", [])
    return environ["wsgi.file_wrapper"](io.BytesIO(b"wrapped file contents"), 4)


def thread_name_app(environ, start_response):
    """The OS thread the app runs on, as name|id: .NET gives its threads' names to the OS (cut to 15 bytes)."""
    import threading
    thread = threading.get_native_id()
    with open("/proc/self/task/%d/comm" % thread, "rb") as comm:
        name = comm.read().rstrip(b"\n")
    start_response("200 OK", [])
    return [b"%s|%d" % (name, thread)]


def exc_info_late_app(environ, start_response):
    start_response("200 OK", [])
    yield b"first"
    try:
        raise KeyError("late failure")
    except KeyError:
        try:
            start_response("500 Internal Server Error", [], sys.exc_info())
        except KeyError as again:
            yield (" re-raised %s" % again).encode()


class _NumberedBody:
    """The body of tests/Adapter.Tests/BodyIntegrity/NumberedBody.cs, chunk for chunk: same generator, same bytes."""

    PATTERN = bytes(range(251)) * (262144 // 251 + 2)

    def __init__(self, seed, total):
        self.state = seed & 0x7FFFFFFF
        self.total = total

    def _next(self):
        self.state = (self.state * 1103515245 + 12345) & 0x7FFFFFFF
        return self.state >> 8

    def chunks(self):
        index = 0
        sent = 0
        while sent < self.total:
            roll = self._next() % 100
            if roll < 4:
                size = 65536 + self._next() % (262144 - 65536 + 1)
            elif roll < 12:
                size = 1 + self._next() % 16
            else:
                size = 1000
            size = min(size, self.total - sent)
            start = (index * 31) % 251
            yield self.PATTERN[start:start + size]
            sent += size
            index += 1


def numbered_app(environ, start_response):
    """?seed=S&total=N&mode=iterable|write: the numbered body, yielded or written."""
    query = dict(part.split("=", 1) for part in environ["QUERY_STRING"].split("&") if "=" in part)
    body = _NumberedBody(int(query.get("seed", "1")), int(query.get("total", "1000000")))
    write = start_response("200 OK", [("Content-Type", "application/octet-stream")])
    if query.get("mode") == "write":
        for chunk in body.chunks():
            write(chunk)
        return []
    return body.chunks()


def spin_app(environ, start_response):
    """Never returns, never lets go: a stuck CPU-bound app."""
    while True:
        pass


def _query(environ):
    return dict(part.split("=", 1) for part in environ["QUERY_STRING"].split("&") if "=" in part)


def _record(path, error):
    """Writes what interrupted an app: its class name, whether it is a TimeoutError, and its message."""
    import urllib.parse
    with open(urllib.parse.unquote(path), "w", encoding="utf-8") as record:
        record.write("%s|%s|%s" % (type(error).__name__, isinstance(error, TimeoutError), error))


def interrupted_spin_app(environ, start_response):
    """?record=PATH: spins in pure Python, never letting go; what ends the spin is written to PATH and raised on."""
    record = _query(environ)["record"]
    try:
        while True:
            pass
    except BaseException as error:
        _record(record, error)
        raise


class SpinningBody:
    """An iterable whose first chunk never comes: it spins in pure Python; close() is counted under its name."""

    def __init__(self, name):
        self.name = name

    def __iter__(self):
        return self

    def __next__(self):
        while True:
            pass

    def close(self):
        closed.append(self.name)


def spinning_body_app(environ, start_response):
    """?NAME: starts the response, then spins in its body; closed_count?NAME tells how often close() ran."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return SpinningBody(environ["QUERY_STRING"])


def blocked_app(environ, start_response):
    """?port=N: connects to the test's listener on port N and waits for it to hang up, inside a native call (the GIL
    let go), where an interrupt cannot land until the call returns."""
    import socket
    with socket.create_connection(("127.0.0.1", int(_query(environ)["port"]))) as connection:
        connection.recv(1)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"released"]


def stubborn_spin_app(environ, start_response):
    """?dir=PATH: marks its arrival with a file in PATH, then spins in pure Python for ever, swallowing the request
    timeout's interrupt: a thread that is still inside Python when the process exits."""
    import os
    import threading
    import urllib.parse
    folder = urllib.parse.unquote(_query(environ)["dir"])
    with open(os.path.join(folder, "spinning-%d" % threading.get_ident()), "w"):
        pass
    while True:
        try:
            while True:
                pass
        except BaseException:
            continue

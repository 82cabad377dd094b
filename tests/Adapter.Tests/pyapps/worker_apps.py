"""WSGI apps for the worker-process tests: they tell which process serves them, crash, spin, and move large bodies."""
import hashlib
import json
import os
import struct
import time
from urllib.parse import parse_qs

BLOCK = 65536
_PATTERN = bytes(i % 251 for i in range(BLOCK))


def _query(environ):
    return {key: values[0] for key, values in parse_qs(environ.get("QUERY_STRING", "")).items()}


def pid_app(environ, start_response):
    """The serving process's id and the environ's process flags; ?sleep=SECONDS first."""
    time.sleep(float(_query(environ).get("sleep", "0")))
    body = json.dumps({
        "pid": os.getpid(),
        "multiprocess": environ["wsgi.multiprocess"],
        "multithread": environ["wsgi.multithread"],
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def crash_app(environ, start_response):
    """Ends its process before the response starts."""
    os._exit(3)


def crash_after_headers_app(environ, start_response):
    """Sends the headers and a first chunk, waits until the file ?signal=PATH exists, then ends its process."""
    signal = _query(environ)["signal"]
    start_response("200 OK", [("Content-Type", "text/plain")])

    def body():
        yield b"first chunk\n"
        # Far past the test's own waits: the signal, not the clock, ends the process.
        deadline = time.monotonic() + 120
        while not os.path.exists(signal) and time.monotonic() < deadline:
            time.sleep(0.01)
        os._exit(4)
        yield b"never sent\n"

    return body()


def spin_app(environ, start_response):
    """Writes its process id to ?pidfile=PATH, then spins forever without letting go of the interpreter."""
    path = _query(environ)["pidfile"]
    with open(path + ".tmp", "w") as file:
        file.write(str(os.getpid()))
    os.replace(path + ".tmp", path)
    while True:
        pass


def block(index):
    """Block INDEX of the test stream: its index as 8 big-endian bytes, then a fixed pattern."""
    return struct.pack(">Q", index) + _PATTERN[8:]


def download_app(environ, start_response):
    """?blocks=N blocks of the test stream, one 64 KiB chunk each."""
    count = int(_query(environ)["blocks"])
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return (block(i) for i in range(count))


def upload_app(environ, start_response):
    """Reads wsgi.input in 64 KiB reads; answers the byte count and the body's SHA-256."""
    stream = environ["wsgi.input"]
    digest = hashlib.sha256()
    total = 0
    while True:
        data = stream.read(BLOCK)
        if not data:
            break
        total += len(data)
        digest.update(data)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%d %s" % (total, digest.hexdigest())).encode()]


def file_app(environ, start_response):
    """The file ?path=PATH through wsgi.file_wrapper, from ?offset=N."""
    query = _query(environ)
    file = open(query["path"], "rb")
    file.seek(int(query.get("offset", "0")))
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](file)


def read_body_app(environ, start_response):
    """Reads the whole request body; answers its length."""
    data = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(len(data)).encode()]

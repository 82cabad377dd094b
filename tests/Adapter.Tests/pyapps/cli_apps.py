"""WSGI apps for the gateway command's tests: a slow app that says when it has started, its process's id, a greeting,
and, on demand, a slow import (so a replacement worker's time before it is ready can be seen) or a mark of each import."""
import os
import tempfile
import time
from urllib.parse import parse_qs

# A worker whose parent (the host) left this file imports slowly, as many seconds as the file says.
_SLOW_IMPORT = os.path.join(tempfile.gettempdir(), "adapter-cli-apps-slow-import-%d" % os.getppid())
if os.path.exists(_SLOW_IMPORT):
    with open(_SLOW_IMPORT) as _file:
        time.sleep(float(_file.read().strip() or "2"))

# A test that must see whether any worker imported this module names a file here; each import appends its pid.
if os.environ.get("ADAPTER_CLI_IMPORT_MARK"):
    with open(os.environ["ADAPTER_CLI_IMPORT_MARK"], "a") as _mark:
        _mark.write("%d\n" % os.getpid())


def _query(environ):
    return {key: values[0] for key, values in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _text(start_response, text):
    body = text.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def hello_app(environ, start_response):
    return _text(start_response, "hello from cli_apps")


def pid_app(environ, start_response):
    return _text(start_response, str(os.getpid()))


def slow_app(environ, start_response):
    """?mark=PATH: writes PATH once the request has reached the app; ?sleep=SECONDS: then sleeps; ?release=PATH:
    then waits (up to 30 s) until PATH exists, so a test decides when the response goes out."""
    query = _query(environ)
    if "mark" in query:
        with open(query["mark"], "w") as mark:
            mark.write("started")
    time.sleep(float(query.get("sleep", "0")))
    if "release" in query:
        deadline = time.monotonic() + 30
        while not os.path.exists(query["release"]) and time.monotonic() < deadline:
            time.sleep(0.01)
    return _text(start_response, "slept")


def length_app(environ, start_response):
    """Reads the request body to its end in 64 KiB pieces and answers how many bytes it held."""
    total = 0
    while True:
        block = environ["wsgi.input"].read(65536)
        if not block:
            break
        total += len(block)
    return _text(start_response, str(total))

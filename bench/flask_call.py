"""The sample's Flask hello called directly, 5,000 times after 500 to warm up: prints (or, served as a WSGI app,
answers) microseconds per call. `python3 bench/flask_call.py` times it under that interpreter; served in-process
(`--PythonGateway:Paths:0=bench --PythonApps:/time=flask_call:application`, then `curl host/time/`) it times it
under the host's libpython."""
import io
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples", "KestrelHost", "pyapps"))
from hello_flask import app as flask_app  # noqa: E402


def _environ():
    return {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/", "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "localhost", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "localhost",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }


def _start_response(status, headers, exc_info=None):
    return None


def _once():
    body = flask_app(_environ(), _start_response)
    b"".join(body)
    if hasattr(body, "close"):
        body.close()


def measure(count=5000):
    for _ in range(500):
        _once()
    start = time.perf_counter()
    for _ in range(count):
        _once()
    return (time.perf_counter() - start) / count * 1e6


def application(environ, start_response):
    text = "%.1f" % measure()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [text.encode()]


if __name__ == "__main__":
    print("%.1f" % measure())

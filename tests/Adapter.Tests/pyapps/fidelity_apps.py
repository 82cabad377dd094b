"""WSGI apps for issue 13's fidelity items: logging, failures, bodies over the limit, header values, loading.
This module has no ``application`` on purpose: loading it by module name alone must say so."""
import logging
import sys
from urllib.parse import parse_qs

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "app.py", line 1, in <module>\n'
    "    fail()\n"
    '  File "app.py", line 2, in fail\n'
    "ValueError: multi-line errors text\n"
)


def _text(start_response, text, status="200 OK"):
    start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
    return [text.encode("utf-8")]


def _record(environ, text):
    path = parse_qs(environ.get("QUERY_STRING", "")).get("record", [None])[0]
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(text)


def errors_app(environ, start_response):
    errors = environ["wsgi.errors"]
    errors.write(TRACEBACK)
    errors.write("tail without a newline")
    return _text(start_response, "written")


def logging_app(environ, start_response):
    log = logging.getLogger("fidelity.app")
    log.warning("careful %s", "x")
    try:
        raise RuntimeError("fidelity failure")
    except RuntimeError:
        log.exception("boom")
    print("hello from print")
    sys.stderr.write("to stderr\n")
    return _text(start_response, "logged")


def key_error_app(environ, start_response):
    """/sentinel writes a line to stderr and answers; anything else fails with a KeyError."""
    if environ["PATH_INFO"] == "/sentinel":
        import sys
        sys.stderr.write("fidelity sentinel\n")
        sys.stderr.flush()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    raise KeyError("fidelity_missing_key")


class _FailingBody:
    def __iter__(self):
        return self

    def __next__(self):
        raise ValueError("fidelity failure in the iterable")


def failing_iterable_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return _FailingBody()


def recording_input_app(environ, start_response):
    _record(environ, "called\n")
    try:
        body = environ["wsgi.input"].read()
    except OSError as error:
        _record(environ, "OSError: %s\n" % error)
        raise
    return _text(start_response, "read %d" % len(body))


def create_app(greeting, excited=False):
    def app(environ, start_response):
        return _text(start_response, greeting + ("!" if excited else ""))
    return app


def header_repr_app(environ, start_response):
    return _text(start_response, ascii(environ.get("HTTP_X_UTF8")))


def non_ascii_header_app(environ, start_response):
    try:
        start_response("200 OK", [("X-Name", "caf\u00e9")])
    except ValueError as error:
        return _text(start_response, "refused: %s" % error)
    return _text(start_response, "accepted")


def path_info_app(environ, start_response):
    return _text(start_response, environ["PATH_INFO"])


def server_software_app(environ, start_response):
    return _text(start_response, environ.get("SERVER_SOFTWARE", "<none>"))


class _CloseRaises:
    """An iterable whose close() raises once the app has produced its body (issue 18, item 4)."""

    def __init__(self, chunks):
        self._chunks = chunks

    def __iter__(self):
        return iter(self._chunks)

    def close(self):
        raise RuntimeError("fidelity close() failed on purpose")


def close_raises_app(environ, start_response):
    """Two chunks, then a close() that raises; ?empty=1: no body, so close() raises before the headers went out."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    if parse_qs(environ.get("QUERY_STRING", "")).get("empty"):
        return _CloseRaises([])
    return _CloseRaises([b"first ", b"second"])

"""Large bodies for bench/run.sh, the same app on the gateway command and on gunicorn.

/upload reads wsgi.input to its end in 64 KiB reads and answers the byte count (no hashing: the figure is the
server's transport, and tests/body-integrity.sh checks the bytes); /upload-sha256 answers the SHA-256 of what it
read, for the script's one check of the bytes. /download?bytes=N sends N bytes in 64 KiB chunks from a generator,
one block reused, as the host's C# /stream app does.
"""
import hashlib
from urllib.parse import parse_qs

BLOCK = 65536
_CHUNK = b"x" * BLOCK


def _upload(environ, start_response, digest=None):
    stream = environ["wsgi.input"]
    total = 0
    while True:
        data = stream.read(BLOCK)
        if not data:
            break
        total += len(data)
        if digest is not None:
            digest.update(data)
    body = (str(total) if digest is None else digest.hexdigest()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _chunks(total):
    while total >= BLOCK:
        yield _CHUNK
        total -= BLOCK
    if total:
        yield _CHUNK[:total]


def _download(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    total = int(query.get("bytes", ["0"])[0])
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(total))])
    return _chunks(total)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/upload":
        return _upload(environ, start_response)
    if path == "/upload-sha256":
        return _upload(environ, start_response, hashlib.sha256())
    if path == "/download":
        return _download(environ, start_response)
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
    return [b""]

"""A WSGI app for the hostile-client tests: a large response, an upload it reads whole, and a small answer."""

CHUNK = b"h" * 65536


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/huge":
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(1024 * len(CHUNK)))])
        return (CHUNK for _ in range(1024))
    if path == "/upload":
        length = len(environ["wsgi.input"].read())
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(length).encode()]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]

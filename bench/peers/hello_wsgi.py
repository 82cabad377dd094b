"""PEP 3333's hello world, served by gunicorn and waitress in bench/run.sh."""


def application(environ, start_response):
    body = b"Hello, World!"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

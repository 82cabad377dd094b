"""An app wrapped in CPython's wsgiref.validate.validator: any PEP 3333 violation by the server raises
(AssertionError), and its warnings are turned into errors too, so both fail the request."""
import warnings
from wsgiref.validate import WSGIWarning, validator

warnings.simplefilter("error", WSGIWarning)


def _inner(environ, start_response):
    method = environ["REQUEST_METHOD"]
    if method == "POST":
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body) + 9))])
        return [b"received ", body]
    if environ["PATH_INFO"] == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (("chunk %d\n" % i).encode() for i in range(20))
    body = b"validated " + environ["PATH_INFO"].encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


app = validator(_inner)

"""What the app sees of its client, behind the proxy: a small PEP 3333 app for samples/scale-out/run.sh."""
import os


def app(environ, start_response):
    body = "remote=%s scheme=%s host=%s pid=%d\n" % (
        environ.get("REMOTE_ADDR"), environ.get("wsgi.url_scheme"), environ.get("HTTP_HOST"), os.getpid())
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body.encode("ascii")]

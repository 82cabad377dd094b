"""The apps of bench/Adapter.Benchmarks' PythonCallBenchmarks: the in-process call with as little app as can be."""


def empty(environ, start_response):
    start_response("204 No Content", [])
    return []


def hello(environ, start_response):
    body = b"Hello, World!"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

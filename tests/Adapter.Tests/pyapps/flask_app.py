"""A small Flask app for the bridge's tests: routes, query and form data, JSON, uploads, streaming, errors."""
import hashlib
import threading

from flask import Flask, Response, jsonify, request, stream_with_context

app = Flask(__name__)
_local = threading.local()


class Teapot(Exception):
    pass


@app.errorhandler(Teapot)
def teapot(error):
    return "handled: %s" % error, 418


@app.route("/")
def index():
    return "Hello from Flask"


@app.route("/greet")
def greet():
    return "Hello, %s!" % request.args.get("name", "nobody")


@app.route("/form", methods=["POST"])
def form():
    return "%s is %s" % (request.form["name"], request.form["age"])


@app.route("/json", methods=["POST"])
def json_echo():
    data = request.get_json()
    return jsonify(received=data, total=sum(data["numbers"]))


@app.route("/upload", methods=["POST"])
def upload():
    uploaded = request.files["file"]
    content = uploaded.read()
    return "%s %d %s" % (uploaded.filename, len(content), hashlib.sha256(content).hexdigest())


@app.route("/stream")
def stream():
    count = int(request.args.get("count", "5"))

    @stream_with_context
    def generate():
        for i in range(count):
            yield "line %d\n" % i

    return Response(generate(), mimetype="text/plain")


@app.route("/teapot")
def raise_teapot():
    raise Teapot("short and stout")


@app.route("/crash")
def crash():
    raise RuntimeError("flask view failed")


@app.route("/local")
def local():
    _local.count = getattr(_local, "count", 0) + 1
    return "%s %d" % (threading.get_ident(), _local.count)

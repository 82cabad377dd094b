"""The sample host's Flask app, mounted at /flask beside the C# routes (and served by gunicorn in bench/run.sh)."""
from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "Hello, World!"


@app.route("/greet/<name>")
def greet(name):
    return "Hello, %s, from Flask behind Kestrel" % name

"""Apps that write to stderr (issue 19): a traceback printed line by line, and a logging handler of the app's own
on stderr. stdio_bytes_apps.py holds the apps that use sys.stdout.buffer, fileno() and faulthandler."""
import logging
import traceback

# Django's default "console" handler: a StreamHandler on sys.stderr on a logger that propagates to the root.
_console = logging.StreamHandler()
_console.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
_django = logging.getLogger("stdio.django")
_django.addHandler(_console)


def _text(start_response, text):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [text.encode()]


def traceback_app(environ, start_response):
    try:
        raise ValueError("stdio traceback " + environ["QUERY_STRING"])
    except ValueError:
        # Line by line: print_exc writes each line of the traceback separately.
        traceback.print_exc()
    return _text(start_response, "printed")


def django_style_app(environ, start_response):
    _django.warning("django-style record %s", environ["QUERY_STRING"])
    return _text(start_response, "warned")

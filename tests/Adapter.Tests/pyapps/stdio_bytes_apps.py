"""An app that owns its stdio, as gunicorn lets it (issue 19): sys.stdout.buffer, fileno(), isatty() and
faulthandler, at import and per request."""
import faulthandler
import os
import sys

# At import, as Mercurial and many CLIs-turned-apps do: these raised under the adapter's old line writer.
faulthandler.enable()
_TTY = (sys.stdout.isatty(), sys.stderr.isatty())
sys.stdout.buffer.write(b"stdio_bytes_apps bytes at import\n")
sys.stdout.buffer.flush()


def bytes_app(environ, start_response):
    marker = environ["QUERY_STRING"].encode()
    sys.stdout.buffer.write(b"bytes from the app " + marker + b"\n")
    sys.stdout.buffer.flush()
    # What a C extension does: write to the descriptor itself.
    os.write(sys.stderr.fileno(), b"fd 2 from the app " + marker + b"\n")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("fileno %d %d, faulthandler %s" % (sys.stdout.fileno(), sys.stderr.fileno(), faulthandler.is_enabled())).encode()]




def segfault_app(environ, start_response):
    # Worker processes only: in-process this would end the host.
    import ctypes
    ctypes.string_at(0)

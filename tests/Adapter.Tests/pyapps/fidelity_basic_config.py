"""An app module that configures logging the way a script does, at import, and logs INFO per request."""
import logging

logging.basicConfig(level=logging.INFO)
_log = logging.getLogger("fidelity.basic")


def application(environ, start_response):
    _log.info("request for %s", environ["PATH_INFO"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]

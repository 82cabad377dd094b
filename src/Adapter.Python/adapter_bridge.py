"""The Python half of the adapter's bridge: start_response, write, wsgi.input, wsgi.errors and
wsgi.file_wrapper as PEP 3333 and the adapter's SPEC section 4 define them.

start_response is checked here, in Python, so a refusal raises inside the app without a call into
.NET; the accepted status and headers reach .NET with the first chunk or write. ``dispatch`` is the
.NET side, shared by all requests: its methods take the request's id and run without the GIL."""
import ast
import logging
import re
import sys
import traceback

_READ_BLOCK = 65536
_CONSTANTS = {"T": True, "F": False, "v": (1, 0)}
_END = object()
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_DIGITS = re.compile(r"[0-9]+\Z")
_HOP_BY_HOP = frozenset((
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "transfer-encoding", "upgrade",
))

dispatch = None


def attach(dispatcher):
    """Called once at start-up with the .NET dispatcher."""
    global dispatch
    dispatch = dispatcher


def _head(status, headers):
    """Checks start_response's arguments; returns them as one NUL-separated string for .NET."""
    if type(status) is not str:
        raise TypeError("status must be a str, not %s" % type(status).__name__)
    if status not in _CHECKED_STATUSES:
        if (len(status) < 3 or not status[:3].isdigit() or not status[:3].isascii() or status[0] == "0"
                or (len(status) > 3 and status[3] != " ") or not _printable(status)):
            raise ValueError(
                "invalid status %r: expected three digits (100 to 999), a space and a reason phrase" % status)
        if len(_CHECKED_STATUSES) < _CHECKED_LIMIT:
            _CHECKED_STATUSES.add(status)
    if type(headers) is not list:
        raise TypeError("response headers must be a list, not %s" % type(headers).__name__)
    parts = [status]
    length_seen = False
    for header in headers:
        if type(header) is not tuple or len(header) != 2:
            raise TypeError("each response header must be a (name, value) tuple, not %r" % (header,))
        name, value = header
        if type(name) is not str or type(value) is not str:
            raise TypeError("response header name and value must be str: %r" % (header,))
        lower = _CHECKED_NAMES.get(name)
        if lower is None:
            lower = _check_name(name, value)
        elif not _printable(value):
            raise ValueError(_BAD_VALUE % (name, value))
        if lower == "content-length":
            if length_seen or not _DIGITS.match(value):
                raise ValueError("response header 'Content-Length' has an invalid or repeated value %r" % value)
            length_seen = True
        parts += header
    return "\0".join(parts)


_BAD_VALUE = ("response header %r holds a control character (CR, LF or other), refused against header injection, or "
              "a character outside ASCII, which the server cannot send (encode it, e.g. RFC 8187 or percent-encoding): "
              "%r")

# Statuses and header names already accepted (a name maps to its lower case): an app sends the same few each time,
# and a look-up costs less than the checks. Bounded, so an app making names up cannot grow them without end.
_CHECKED_STATUSES = set()
_CHECKED_NAMES = {}
_CHECKED_LIMIT = 512


def _printable(text):
    """True when ``text`` is printable ASCII, space to tilde: no control character (CR, LF), nothing outside ASCII."""
    return text.isascii() and text.isprintable()


def _check_name(name, value):
    """The checks of a header whose name was not accepted before, in their order; returns the name in lower case."""
    if not _TOKEN.match(name):
        raise ValueError("invalid response header name %r: header names must be HTTP tokens" % name)
    if not _printable(value):
        raise ValueError(_BAD_VALUE % (name, value))
    lower = name.lower()
    if lower in _HOP_BY_HOP:
        raise ValueError("response header %r is hop-by-hop; the server manages the connection and framing" % name)
    if len(_CHECKED_NAMES) < _CHECKED_LIMIT:
        _CHECKED_NAMES[name] = lower
    return lower


class _HostHandler(logging.Handler):
    """Hands each logging record to the host: its level, its logger's name, and its text with any traceback."""

    def __init__(self, emit):
        super().__init__()
        self._emit = emit
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record):
        try:
            self._emit(record.levelno, record.name, self.format(record))
        except Exception:
            self.handleError(record)


def capture_output(emit):
    """Routes Python's logging to the host (a handler on the root logger): emit(level, logger name, text), with
    logging's level numbers. sys.stdout and sys.stderr stay the process's own file objects, as under gunicorn
    (``buffer``, ``fileno()``, ``isatty()`` and faulthandler work): the host reads fd 1 and fd 2 through pipes, so
    print(), tracebacks and a C library's output reach its log too."""
    logging.getLogger().addHandler(_HostHandler(emit))
    logging.basicConfig = _basic_config
    logging.StreamHandler.emit = _console_emit
    for stream in (sys.stdout, sys.stderr):
        try:
            # Each line reaches the pipe when it ends (as under python -u), not once 8 KiB have gathered.
            if not stream.write_through:
                stream.reconfigure(line_buffering=True)
        except (AttributeError, ValueError, OSError):
            pass


_stream_emit = logging.StreamHandler.emit


def _console_emit(self, record):
    """StreamHandler.emit, except for a record that the host's handler also gets, going to the process's own
    stdout or stderr (Django's "console" handler, basicConfig(stream=sys.stderr)): the host already logs it,
    with its level and logger, so it is not written a second time into the captured output."""
    if _to_console(self) and _host_gets(record):
        return
    _stream_emit(self, record)


def _to_console(handler):
    try:
        return handler.stream.fileno() in (1, 2)
    except Exception:  # a stream without a descriptor (StringIO) or a closed one: not the console
        return False


def _host_gets(record):
    """True when logging hands the record to the host's handler: it is on a logger of the record's chain that the
    record reaches (as Logger.callHandlers walks it) and its level lets the record through."""
    logger = logging.root if record.name == logging.root.name else logging.Logger.manager.loggerDict.get(record.name)
    while isinstance(logger, logging.Logger):
        for handler in logger.handlers:
            if isinstance(handler, _HostHandler) and record.levelno >= handler.level:
                return True
        if not logger.propagate:
            return False
        logger = logger.parent
    return False


_original_basic_config = logging.basicConfig


def _basic_config(**kwargs):
    """logging.basicConfig, still doing its job with the host's handler in place (the original does nothing
    once the root logger has a handler): a level and a format apply to the host's handler; a file, a
    stream or handlers of the app's own are set up as the original sets them up."""
    root = logging.getLogger()
    ours = [handler for handler in root.handlers if isinstance(handler, _HostHandler)]
    if kwargs.get("force") or len(ours) != len(root.handlers) or {"filename", "stream", "handlers"} & kwargs.keys():
        return _original_basic_config(**kwargs)
    if "level" in kwargs:
        root.setLevel(kwargs["level"])
    if "format" in kwargs:
        formatter = logging.Formatter(kwargs["format"], kwargs.get("datefmt"), kwargs.get("style", "%"))
        for handler in ours:
            handler.setFormatter(formatter)


class RequestTimeoutError(TimeoutError):
    """Raised inside an in-process app still running past the adapter's request timeout
    (GatewayOptions.RequestTimeout), after its client was answered 504 (or cut short). The adapter raises it
    in the app's thread with PyThreadState_SetAsyncExc, which takes a class, not an instance: the message
    comes from the class that timeout_error made for the gateway's timeout."""

    timeout = None

    def __init__(self, *args):
        if not args:
            args = ("the request timed out: the app ran for longer than the request timeout (%g s, "
                    "GatewayOptions.RequestTimeout) without handing the server anything; the client was answered "
                    "504 (or cut short) and the app was interrupted" % self.timeout,)
        super().__init__(*args)


def timeout_error(seconds):
    """The RequestTimeoutError class for one gateway's request timeout, in seconds."""
    return type("RequestTimeoutError", (RequestTimeoutError,), {"timeout": seconds, "__module__": __name__})


_BRIDGE_FILE = sys._getframe().f_code.co_filename


def app_stack(thread_id):
    """Where a thread is in an app, innermost call last; None when it runs no Python now, or runs this bridge's own
    code, where an exception raised into it could land before the bridge owns the app's iterable and skip its
    close(). An exception raised while an app's frame is innermost lands in that frame (at once, or when the native
    call it waits in returns)."""
    frame = sys._current_frames().get(thread_id)
    if frame is None or frame.f_code.co_filename == _BRIDGE_FILE:
        return None
    return "".join(traceback.format_stack(frame)).rstrip()


def _describe(error):
    """An exception's type, message and traceback, as the adapter logs it."""
    return "%s: %s\n%s" % (type(error).__name__, error, "".join(traceback.format_exception(error)).rstrip())


def describe(kind, error, trace):
    """_describe for an exception the host took off a thread (type, value and traceback apart)."""
    if error.__traceback__ is None and trace is not None:
        error = error.with_traceback(trace)
    return _describe(error)


def add_paths(paths):
    """Puts the directories ``paths`` at the front of sys.path, in their order, each one once."""
    for path in reversed(paths):
        if path not in sys.path:
            sys.path.insert(0, path)


def _factory(text):
    """``create_app(...)`` with literal arguments: (name, args, kwargs); None when ``text`` is a plain name."""
    if not text.endswith(")"):
        return None
    call = ast.parse(text, mode="eval").body
    if not isinstance(call, ast.Call):
        raise ValueError("'%s' is neither an attribute name nor a call of one" % text)
    name = ast.unparse(call.func)
    args = [ast.literal_eval(argument) for argument in call.args]
    kwargs = {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords}
    return name, args, kwargs


def load(target):
    """Imports a WSGI app named gunicorn-style: ``module``, ``module:name.path`` or ``module:factory(literal
    arguments)``. Returns (app, None), or (None, what went wrong, with the traceback)."""
    module_name, colon, attribute = target.partition(":")
    default = not colon
    attribute = attribute or "application"
    try:
        factory = _factory(attribute)
    except (SyntaxError, ValueError) as error:
        return None, "'%s' is not an attribute name or a call with literal arguments (%s)" % (attribute, error)
    name = factory[0] if factory else attribute
    try:
        current = __import__(module_name, fromlist=["_"])
    except BaseException as error:  # an app's import may raise anything, SystemExit included
        return None, "importing module '%s' raised %s\nsys.path: %r" % (module_name, _describe(error), sys.path)
    for part in name.split("."):
        if not hasattr(current, part):
            hint = (" ('application' is the name looked for when the target names no callable: write 'module:callable')"
                    if default else "")
            return None, "module '%s' (%s) has no attribute '%s'%s." % (
                module_name, getattr(sys.modules.get(module_name), "__file__", "?"), name, hint)
        current = getattr(current, part)
    if factory:
        try:
            current = current(*factory[1], **factory[2])
        except BaseException as error:
            return None, "calling the factory '%s' raised %s" % (attribute, _describe(error))
    if not callable(current):
        return None, "'%s' is not callable (it is %s)." % (attribute, type(current).__name__)
    return current, None


def _environ(strings, others):
    """The environ from the adapter's two NUL-separated lists: key and str value pairs, then key and
    kind pairs for the rest (T and F for the booleans, v for wsgi.version)."""
    items = iter(strings.split("\0"))
    environ = dict(zip(items, items))
    if others:
        constants = _OTHERS.get(others)
        if constants is None:
            items = iter(others.split("\0"))
            constants = {key: _CONSTANTS[kind] for key, kind in zip(items, items)}
            if len(_OTHERS) < _CHECKED_LIMIT:
                _OTHERS[others] = constants
        environ.update(constants)
    return environ


# The second list is the same few flags for every request: decoded once each.
_OTHERS = {}


class _Request:
    """One request's start_response and write, and what of them .NET has not seen yet."""

    __slots__ = ("id", "head", "pending", "sent", "errors")

    def __init__(self, request_id):
        self.id = request_id
        self.errors = None
        self.head = None
        self.pending = None
        self.sent = False

    def start_response(self, status, headers, exc_info=None):
        if exc_info is not None:
            try:
                if self.sent:
                    # Headers are out: PEP 3333 re-raises the app's own error.
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.head is not None:
            raise AssertionError("start_response was already called; call it again only with exc_info, before any body is sent")
        self.head = self.pending = _head(status, headers)
        return self.write

    def take(self):
        """The status and headers .NET has not seen yet, or None."""
        pending, self.pending = self.pending, None
        return pending

    def write(self, data):
        if type(data) is not bytes:
            raise TypeError("write() takes bytes, not %s" % type(data).__name__)
        if self.head is None:
            raise AssertionError("write() was called before start_response()")
        if data:
            self.sent = True
        dispatch.Write(self.id, self.take(), data)


def run(app, strings, others, request_id, overrides=None):
    """Calls the app with a fresh environ (``overrides`` replacing entries of it); returns a Response over
    the iterable it returned."""
    environ = _environ(strings, others)
    if overrides:
        environ.update(overrides)
    return call(app, environ, request_id)


def call(app, environ, request_id):
    """Calls the app with ``environ`` (the CGI entries and flags; in-process, a dict the host built through the C
    API), adding wsgi.input, wsgi.errors and wsgi.file_wrapper; returns a Response over the iterable it returned."""
    request = _Request(request_id)
    environ["wsgi.input"] = Input(request_id)
    environ["wsgi.errors"] = request.errors = Errors(request_id)
    environ["wsgi.file_wrapper"] = FileWrapper
    try:
        result = app(environ, request.start_response)
    except BaseException:
        request.errors.flush()
        raise
    return Response(result, request)


class Response:
    """The app's iterable, read one chunk at a time by the adapter; close() at most once."""

    __slots__ = ("_result", "_iterator", "_closed", "_request")

    def __init__(self, result, request):
        self._result = result
        self._request = request
        self._closed = False
        self._iterator = None
        try:
            self._iterator = iter(result)
        except BaseException:
            self.close()
            raise

    def next(self):
        """The next chunk as bytes, or None at the end (after closing the iterable); a (head, chunk)
        tuple instead when start_response was called since .NET last looked; at the end, a str when the
        iterable's close() raised after the body went out (see _close_at_end)."""
        chunk = next(self._iterator, _END)
        if chunk is _END:
            failure = self._close_at_end()
            if failure is not None:
                return failure
            chunk = None
        elif type(chunk) is not bytes:
            if not isinstance(chunk, bytes):
                raise TypeError("the app yielded %s; every chunk must be bytes" % type(chunk).__name__)
            chunk = bytes(chunk)
        request = self._request
        if chunk:
            request.sent = True
        if request.pending is not None:
            return (request.take(), chunk)
        return chunk

    def _close_at_end(self):
        """Closes the iterable once the app has produced the whole body. A close() that raises once the body has
        gone out cannot change the response any more: gunicorn still completes it, and so does the adapter, so
        the failure comes back as its description, with the traceback, for the host to log. Before any body
        (the status and headers not sent) it raises, and the response is a 500."""
        try:
            self.close()
        except BaseException as error:  # close() is the app's code: it may raise anything
            if not self._request.sent:
                raise
            return _describe(error)
        return None

    def close(self):
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            # What the app wrote to wsgi.errors without ending its line.
            self._request.errors.flush()


class Input:
    """wsgi.input: a file-like object over the request body, read as it arrives."""

    def __init__(self, request_id):
        self._id = request_id
        self._pending = b""
        self._ended = False

    def _fill(self, size):
        """Reads once more from the body into the pending bytes; False at the end of the body."""
        if self._ended:
            return False
        block = bytearray(max(size, _READ_BLOCK))
        count = dispatch.ReadInto(self._id, block)
        if count < 0:
            self._ended = True
            raise OSError("reading the request body failed: %s" % dispatch.InputFailure(self._id))
        if count == 0:
            self._ended = True
            return False
        del block[count:]
        self._pending += block
        return True

    def read(self, size=-1):
        if size is None or size < 0:
            while self._fill(_READ_BLOCK):
                pass
            data, self._pending = self._pending, b""
            return data
        while len(self._pending) < size and self._fill(size - len(self._pending)):
            pass
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def readline(self, size=-1):
        limit = None if size is None or size < 0 else size
        while True:
            end = self._pending.find(b"\n")
            if end >= 0 and (limit is None or end < limit):
                return self.read(end + 1)
            if limit is not None and len(self._pending) >= limit:
                return self.read(limit)
            if not self._fill(_READ_BLOCK):
                return self.read(len(self._pending) if limit is None else min(limit, len(self._pending)))

    def readlines(self, hint=-1):
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class Errors:
    """wsgi.errors: text written here reaches the host's logger; each write() that ends a line, or a flush(),
    is one log entry, so a traceback written at once stays together."""

    def __init__(self, request_id):
        self._id = request_id
        self._pending = []

    def write(self, text):
        if type(text) is not str:
            raise TypeError("wsgi.errors.write() takes str, not %s" % type(text).__name__)
        self._pending.append(text)
        if text.endswith("\n"):
            self.flush()

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            dispatch.Error(self._id, text)


class FileWrapper:
    """wsgi.file_wrapper: iterates a file-like object in blocks and closes it with the response."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration

"""The Python half of the adapter's bridge: start_response, write, wsgi.input, wsgi.errors and
wsgi.file_wrapper as PEP 3333 defines them. ``call`` is the .NET side of one request; every method
on it is entered with the GIL held and releases it around blocking work."""

_READ_BLOCK = 65536
_ERRORS = {"T": TypeError, "V": ValueError, "A": AssertionError}


def _check_headers(headers):
    if type(headers) is not list:
        raise TypeError("response headers must be a list, not %s" % type(headers).__name__)
    parts = []
    for header in headers:
        if type(header) is not tuple or len(header) != 2:
            raise TypeError("each response header must be a (name, value) tuple, not %r" % (header,))
        name, value = header
        if type(name) is not str or type(value) is not str:
            raise TypeError("response header name and value must be str: %r" % (header,))
        if "\0" in name or "\0" in value:
            raise ValueError("response header %r holds a NUL character" % name)
        parts.append(name)
        parts.append(value)
    return "\0".join(parts)


def run(app, environ, call):
    """Calls the app; returns a Response over the iterable it returned."""
    started = []

    def write(data):
        if type(data) is not bytes:
            raise TypeError("write() takes bytes, not %s" % type(data).__name__)
        if not started:
            raise AssertionError("write() was called before start_response()")
        call.Write(data)

    def start_response(status, headers, exc_info=None):
        if type(status) is not str:
            raise TypeError("status must be a str, not %s" % type(status).__name__)
        flat = _check_headers(headers)
        try:
            error = call.Start(status, flat, exc_info is not None)
            if error:
                kind, _, message = error.partition(":")
                if kind == "R":
                    # Headers were already sent: PEP 3333 re-raises the app's own error.
                    raise exc_info[1].with_traceback(exc_info[2])
                raise _ERRORS[kind](message)
        finally:
            exc_info = None
        started.append(True)
        return write

    environ["wsgi.input"] = Input(call)
    environ["wsgi.errors"] = Errors(call)
    environ["wsgi.file_wrapper"] = FileWrapper
    return Response(app(environ, start_response))


class Response:
    """The app's iterable, read one chunk at a time by the adapter; close() at most once."""

    __slots__ = ("_result", "_iterator", "_closed")

    def __init__(self, result):
        self._result = result
        self._closed = False
        self._iterator = None
        try:
            self._iterator = iter(result)
        except BaseException:
            self.close()
            raise

    def next(self):
        chunk = next(self._iterator, None)
        if chunk is None or type(chunk) is bytes:
            return chunk
        if isinstance(chunk, bytes):
            return bytes(chunk)
        raise TypeError("the app yielded %s; every chunk must be bytes" % type(chunk).__name__)

    def close(self):
        if self._closed:
            return
        self._closed = True
        close = getattr(self._result, "close", None)
        if close is not None:
            close()


class Input:
    """wsgi.input: a file-like object over the request body, read as it arrives."""

    def __init__(self, call):
        self._call = call
        self._pending = b""
        self._ended = False

    def _fill(self, size):
        """Reads once more from the body into the pending bytes; False at the end of the body."""
        if self._ended:
            return False
        block = bytearray(max(size, _READ_BLOCK))
        count = self._call.ReadInto(block)
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
    """wsgi.errors: text written here reaches the host's logger, a line at a time."""

    def __init__(self, call):
        self._call = call

    def write(self, text):
        if type(text) is not str:
            raise TypeError("wsgi.errors.write() takes str, not %s" % type(text).__name__)
        self._call.Error(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass


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

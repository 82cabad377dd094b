"""A worker process of the adapter's Python gateway: imports the host's WSGI apps once, then serves one
request at a time over a pipe to the host.

Started by the host as ``python3 -u gateway_worker.py PATH...``; the PATHs go to the front of sys.path.
The channel is the process's original stdin (from the host) and stdout (to the host), moved to descriptors of
their own; fd 0 becomes /dev/null and fd 1 the pipe the host passed for it (its number in ADAPTER_WORKER_STDOUT_FD),
so fd 1 and fd 2 are both pipes the host reads into its log, as gunicorn's --capture-output does with its log file.
sys.stdout and sys.stderr stay Python's own file objects over them (buffer, fileno(), faulthandler work) and never
reach the channel.

Every frame is one kind byte, a 4-byte big-endian payload length and the payload.
Host to worker: L load (u32 index, target), R request (u32 app index, u32 length of the text entries,
the text entries, the other entries), D request body bytes (empty: the end), Y the body failed (text),
S stop this response (the client left).
Worker to host: K loaded, X failure (text with traceback), H status and headers, B body chunk,
I read (u32 most bytes), E wsgi.errors text, F send a file (u64 offset, path), C the iterable's close() raised
after the body went out (text with traceback; the response still completes), Z response done.

With N threads (gunicorn's gthread: ADAPTER_GATEWAY_THREADS=N and ADAPTER_GATEWAY_CHANNELS=a Unix socket of the
host), the worker connects N-1 more channels to that socket at start, each served by a thread of its own: N requests
in flight, one per channel, and no channel is ever shared. Loads come on the first channel only.

The worker ends at EOF on the channels (after their requests), and at once when the host dies, even by SIGKILL
(see _watch_host)."""
import os
import select
import signal
import socket
import struct
import sys
import threading
import traceback

_HEADER = struct.Struct(">cI")
_U32 = struct.Struct(">I")
_U32_PAIR = struct.Struct(">II")
_U64 = struct.Struct(">Q")
_PROCESS_FLAGS = {"wsgi.multithread": False, "wsgi.multiprocess": True}
_THREADED_FLAGS = {"wsgi.multithread": True, "wsgi.multiprocess": True}


def _needed(data):
    """How many bytes the first frame in ``data`` takes, header included (the header's size until it is whole)."""
    return _HEADER.size + _U32.unpack_from(data, 1)[0] if len(data) >= _HEADER.size else _HEADER.size


class ClientGone(OSError):
    """Raised into the app when the host says its client left."""


class Channel:
    """The framed pipe to the host; also the bridge's ``dispatch`` (Write, ReadInto, Error)."""

    def __init__(self, read_fd, write_fd):
        self._read_fd = read_fd
        self._write_fd = write_fd
        # What was read past the last frame; bytes, since a read most often holds exactly one frame.
        self._buffer = b""
        # Frames sent with flush=False: they go out with the next flushed frame, in one write.
        self._pending = []
        # An app's own threads may write to wsgi.errors while the request's thread sends chunks.
        self._lock = threading.Lock()
        # Only the channel's own thread polls it (check_stop), so one poll object serves every request.
        self._poll = select.poll()
        self._poll.register(read_fd, select.POLLIN)
        self.stopped = False
        self.in_request = False
        self.body_sent = False
        self.index = 0

    def send(self, kind, payload=b"", flush=True):
        """Writes a frame; ``flush=False`` keeps it pending until the next flushed frame (status and headers
        go out with the first chunk, and a list's last chunk with Z, in one write)."""
        with self._lock:
            pending = self._pending
            pending += _HEADER.pack(kind, len(payload)), payload
            if flush:
                self._pending = []
                self._write(pending)

    def _write(self, parts):
        written = os.writev(self._write_fd, parts)
        if written < sum(map(len, parts)):
            # A signal cut the write short: the rest goes out in order.
            view = memoryview(b"".join(parts))[written:]
            while view:
                view = view[os.write(self._write_fd, view):]

    def _fill(self):
        """Reads until the buffer holds a whole frame; False at EOF."""
        data = self._buffer
        if not data:
            # The host writes a small frame in one write: most often one read brings exactly one frame.
            data = os.read(self._read_fd, 65536)
            if not data:
                return False
            if len(data) >= _needed(data):
                self._buffer = data
                return True
        data = bytearray(data)
        while len(data) < _needed(data):
            more = os.read(self._read_fd, max(65536, _needed(data) - len(data)))
            if not more:
                self._buffer = bytes(data)
                return False
            data += more
        self._buffer = bytes(data)
        return True

    def receive(self):
        """The next frame as (kind, payload); None at EOF."""
        buffer = self._buffer
        if len(buffer) < _needed(buffer):
            if not self._fill():
                return None
            buffer = self._buffer
        kind, length = _HEADER.unpack_from(buffer)
        end = _HEADER.size + length
        self._buffer = buffer[end:]
        return kind, buffer[_HEADER.size:end]

    def check_stop(self):
        """True once the host asked to stop the current response (or closed the channel); never blocks long."""
        if not self.stopped and (self._buffer or self._poll.poll(0)):
            frame = self.receive()
            if frame is None or frame[0] == b"S":
                self.stopped = True
        return self.stopped

    # The bridge's dispatch: the request id is always this worker's one request.

    def Write(self, _id, head, data):
        if self.check_stop():
            raise ClientGone("the client disconnected")
        if head is not None:
            self.send(b"H", head.encode("utf-8"), flush=False)
        self.body_sent = True
        self.send(b"B", data)

    def ReadInto(self, _id, buffer):
        self.send(b"I", _U32.pack(len(buffer)))
        frame = self.receive()
        if frame is None:
            raise EOFError("the host closed the channel")
        kind, payload = frame
        if kind == b"S":
            self.stopped = True
            raise ClientGone("the client disconnected")
        if kind == b"Y":
            raise OSError(payload.decode("utf-8", "replace"))
        count = len(payload)
        buffer[:count] = payload
        return count

    def Error(self, _id, text):
        if not self.in_request:
            # A thread that kept wsgi.errors past its request: the host's log still gets it, not the next request.
            sys.stderr.write(text if text.endswith("\n") else text + "\n")
            return
        self.send(b"E", text.encode("utf-8", "surrogateescape"))


def _send_file(channel, result, request):
    """Sends a wsgi.file_wrapper over a real file by path; False when it is not one."""
    filelike = getattr(result, "filelike", None)
    name = getattr(filelike, "name", None)
    if type(result).__name__ != "FileWrapper" or not isinstance(name, str) or not hasattr(filelike, "tell"):
        return False
    try:
        path = os.path.abspath(name)
        if not os.path.isfile(path):
            return False
        offset = filelike.tell()
    except (OSError, ValueError):
        return False
    head = request.take()
    if head is not None:
        channel.send(b"H", head.encode("utf-8"), flush=False)
    channel.send(b"F", _U64.pack(offset) + path.encode("utf-8", "surrogateescape"))
    # The file stays open (a temporary file, say, still exists) until the host has opened it too.
    channel.receive()
    return True


def _serve(channel, bridge, app, strings, others):
    channel.stopped = False
    channel.body_sent = False
    channel.in_request = True
    try:
        _respond(channel, bridge, app, strings, others)
    finally:
        channel.in_request = False


def _respond(channel, bridge, app, strings, others):
    try:
        response = bridge.run(app, strings, others, channel.index, _THREADED_FLAGS if len(_channels) > 1 else _PROCESS_FLAGS)
    except BaseException as error:
        channel.send(b"X", bridge._describe(error).encode("utf-8", "replace"))
        return
    try:
        result = response._result
        if (type(result).__name__ == "FileWrapper" and not channel.body_sent and response._request.head is not None
                and _send_file(channel, result, response._request)):
            response.close()
            channel.send(b"Z", _end())
            return
        # A list or a tuple runs no app code while it is read: its last chunk waits for Z, and the two go out in
        # one write (with the status and headers, for a body of one chunk).
        last = len(result) if type(result) is list or type(result) is tuple else -1
        sent = 0
        # The host can only have asked to stop once it has a chunk: no look at the channel before the first, nor
        # after the last of a list (the host has not seen that one; what it asked after the ones before is read
        # and ignored before the next request).
        while not (sent and sent != last and channel.check_stop()):
            chunk = response.next()
            if type(chunk) is str:
                # close() raised after the body went out: the host logs it, and the response completes (Z follows).
                channel.send(b"C", chunk.encode("utf-8", "replace"), flush=False)
                break
            if type(chunk) is tuple:
                head, chunk = chunk
                channel.send(b"H", head.encode("utf-8"), flush=False)
            if chunk is None:
                break
            channel.body_sent = True
            sent += 1
            channel.send(b"B", chunk, flush=sent != last)
        response.close()
    except BaseException as error:
        try:
            response.close()
        except BaseException:
            pass
        channel.send(b"X", bridge._describe(error).encode("utf-8", "replace"))
        return
    channel.send(b"Z", _end())


def _end():
    """Z's payload: one byte when this worker ends after the response (a SIGTERM came), so the host retires it."""
    return b"\x01" if _state["terminate"] else b""


_state = {"busy": 0, "terminate": False}
_state_lock = threading.Lock()
_channels = []


class Dispatch:
    """The bridge's dispatch: a request's id is the index of its channel, so each call reaches that channel."""

    def Write(self, request_id, head, data):
        return _channels[request_id].Write(request_id, head, data)

    def ReadInto(self, request_id, buffer):
        return _channels[request_id].ReadInto(request_id, buffer)

    def Error(self, request_id, text):
        return _channels[request_id].Error(request_id, text)


def _on_terminate(_signum, frame):
    # SIGTERM reaches every process of the host's group or cgroup when a service manager stops it: a request
    # in progress finishes first (the host may still be answering it), an idle worker ends now. When the host
    # itself sends it, to a worker stuck past the timeout, the stack shows where; SIGKILL follows.
    _state["terminate"] = True
    if _state["busy"] == 0:
        os._exit(0)
    sys.stderr.write("SIGTERM during a request; this worker ends after it. The app is at:\n%s"
                     % "".join(traceback.format_stack(frame)))
    sys.stderr.flush()


_log_lock = threading.Lock()


def _log_to_host(level, name, text):
    # One logging record on stderr, in one write, marked so the host can tell it from raw output (a C library's,
    # say) and log it at its own level and name; its line breaks travel as \x1d, since a line feed ends it.
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\x1d")
    data = ("\x1e%d\x1f%s\x1f%s\n" % (level, name, text)).encode("utf-8", "backslashreplace")
    with _log_lock:
        view = memoryview(data)
        while view:
            view = view[os.write(2, view):]


_PARENT_CHECK_MS = 1000


def _watch_host(parent, host_pipe):
    """Ends this worker as soon as the host is gone, even by SIGKILL, and even while the app spins (this thread
    still runs: the GIL switches every few ms). ``host_pipe`` is a copy of stderr, a pipe whose only read end the
    host holds: when the host dies the kernel closes it, and poll() reports POLLERR on this end at once, with no
    wake-up meanwhile (PR_SET_PDEATHSIG would fire when the host *thread* that started this process ends, and .NET
    starts processes from pool threads that come and go). A change of parent, looked at once a second, covers a
    stderr that is not the host's pipe."""
    poller = select.poll()
    # No events asked for: poll() then reports only POLLERR, POLLHUP and POLLNVAL.
    poller.register(host_pipe, 0)
    while True:
        for _fd, events in poller.poll(_PARENT_CHECK_MS):
            if events & (select.POLLERR | select.POLLHUP):
                os._exit(1)
            poller.unregister(host_pipe)
        if os.getppid() != parent:
            os._exit(1)


def main():
    # Ctrl+C and a terminal's hang-up reach the whole process group; the host decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_terminate)
    read_fd, write_fd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    stdout = int(os.environ.pop("ADAPTER_WORKER_STDOUT_FD", "2"))
    os.dup2(stdout, 1)
    if stdout > 2:
        os.close(stdout)
    sys.path[1:1] = sys.argv[1:]
    threading.Thread(target=_watch_host, args=(os.getppid(), os.dup(2)), daemon=True, name="host-watch").start()

    import adapter_bridge as bridge
    _channels.append(Channel(read_fd, write_fd))
    _channels[0].index = 0
    path = os.environ.pop("ADAPTER_GATEWAY_CHANNELS", None)
    threads = int(os.environ.pop("ADAPTER_GATEWAY_THREADS", "1"))
    if path:
        for index in range(1, threads):
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.connect(path)
            fd = connection.detach()
            _channels.append(Channel(fd, os.dup(fd)))
            _channels[index].index = index
    bridge.attach(Dispatch())
    bridge.capture_output(_log_to_host)
    apps = {}
    others = [threading.Thread(target=_loop, args=(channel, bridge, apps), daemon=True, name="channel-%d" % channel.index)
              for channel in _channels[1:]]
    for thread in others:
        thread.start()
    _loop(_channels[0], bridge, apps)
    # EOF on the first channel: the host is done with this worker; the other channels end after their requests.
    for thread in others:
        thread.join()


def _loop(channel, bridge, apps):
    """Serves one channel until its EOF (or a SIGTERM once its request is done)."""
    while True:
        frame = channel.receive()
        if frame is None:
            return
        kind, payload = frame
        if kind == b"R":
            index, length = _U32_PAIR.unpack_from(payload)
            start = _U32_PAIR.size
            strings = payload[start:start + length].decode("utf-8")
            others = payload[start + length:].decode("utf-8")
            with _state_lock:
                _state["busy"] += 1
            try:
                _serve(channel, bridge, apps[index], strings, others)
            finally:
                with _state_lock:
                    _state["busy"] -= 1
                    last = _state["busy"] == 0
            if _state["terminate"]:
                if last and channel.index != 0:
                    os._exit(0)
                return
        elif kind == b"L":
            (index,) = _U32.unpack_from(payload)
            app, failure = bridge.load(payload[_U32.size:].decode("utf-8"))
            if failure is None:
                apps[index] = app
                channel.send(b"K")
            else:
                channel.send(b"X", failure.encode("utf-8", "replace"))
        # S after a response already ended, or D and Y out of turn: nothing to do.


if __name__ == "__main__":
    main()

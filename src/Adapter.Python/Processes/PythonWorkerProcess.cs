using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Adapter;

/// <summary>
/// One worker process of the Python gateway and its framed channels (<see cref="PythonWorkerChannel"/>: one, or one
/// per thread with <c>--threads</c>). A request thread that holds a channel reads and writes frames; the supervisor
/// only looks at the channels' <see cref="PythonWorkerChannel.WaitingSince"/>, signals the process, and closes its input.
/// </summary>
internal sealed partial class PythonWorkerProcess : IDisposable
{
    private const int TailLines = 20;
    private const int SigTerm = 15;
    private const string StdoutVariable = "ADAPTER_WORKER_STDOUT_FD";
    private static readonly TimeSpan OutputGrace = TimeSpan.FromSeconds(1);

    private readonly Process _process;
    private readonly Queue<string> _tail = new();
    private readonly List<PythonWorkerChannel> _channels = [];
    private Socket? _listener;
    private string? _listenerPath;
    private Task _stderr = Task.CompletedTask;
    private Stream? _stdoutPipe;
    private int _state;
    private int _busy;
    private int _served;
    private bool _starting;

    private PythonWorkerProcess(Process process, int generation, int limit)
    {
        _process = process;
        _channels.Add(new PythonWorkerChannel(this, process.StandardInput.BaseStream, process.StandardOutput.BaseStream));
        Generation = generation;
        Limit = limit;
        Id = process.Id;
    }

    /// <summary>Its channels: the first (stdin and stdout) carries the loads; each serves one request at a time.</summary>
    public IReadOnlyList<PythonWorkerChannel> Channels => _channels;

    /// <summary>The first channel, which the start handshake uses.</summary>
    public PythonWorkerChannel Main => _channels[0];

    /// <summary>Requests in flight on its channels.</summary>
    public int Busy => Volatile.Read(ref _busy);

    /// <summary>
    /// Takes a channel for a request: Idle or Busy becomes Busy, one more in flight; false once it is stopping.
    /// </summary>
    public bool TryTake(PythonWorkerChannel channel)
    {
        lock (_channels)
        {
            if (State is not (PythonWorkerState.Idle or PythonWorkerState.Busy))
            {
                return false;
            }

            _busy++;
            State = PythonWorkerState.Busy;
            channel.Held = true;
            return true;
        }
    }

    /// <summary>Marks it stopping; true when no request is in flight, so its channels may close now.</summary>
    public bool BeginStopping()
    {
        lock (_channels)
        {
            State = PythonWorkerState.Stopping;
            return _busy == 0;
        }
    }

    /// <summary>Gives a channel back after a request; true when no request is left in flight.</summary>
    public bool Give(PythonWorkerChannel channel)
    {
        lock (_channels)
        {
            channel.Held = false;
            _busy--;
            if (_busy == 0 && State == PythonWorkerState.Busy)
            {
                State = PythonWorkerState.Idle;
            }

            return _busy == 0;
        }
    }

    /// <summary>The worker's process id.</summary>
    public int Id { get; }

    /// <summary>The generation it was started for; a reload starts a new one.</summary>
    public int Generation { get; }

    /// <summary>The requests it serves before it is replaced (its jitter included); 0 for no limit.</summary>
    public int Limit { get; }

    /// <summary>Requests it has served, on all its channels.</summary>
    public int Served => Volatile.Read(ref _served);

    /// <summary>Counts a request served; the new count.</summary>
    public int CountServed() => Interlocked.Increment(ref _served);

    /// <summary>Where the worker is in its life (see <see cref="PythonWorkerState"/>).</summary>
    public PythonWorkerState State
    {
        get => (PythonWorkerState)Volatile.Read(ref _state);
        set => Volatile.Write(ref _state, (int)value);
    }

    /// <summary>Why the supervisor is stopping it, once it is.</summary>
    public string? StopReason { get; set; }

    /// <summary>When the supervisor began stopping it (a <see cref="Stopwatch"/> timestamp).</summary>
    public long StoppingSince { get; set; }

    /// <summary>The oldest <see cref="PythonWorkerChannel.WaitingSince"/> of its channels, 0 when none waits.</summary>
    public long WaitingSince
    {
        get
        {
            var oldest = 0L;
            PythonWorkerChannel[] channels;
            lock (_channels)
            {
                channels = [.. _channels];
            }

            foreach (var channel in channels)
            {
                var since = channel.WaitingSince;
                if (since != 0 && (oldest == 0 || since < oldest))
                {
                    oldest = since;
                }
            }

            return oldest;
        }
    }

    public bool HasExited => ExitDescription is not null || _process.HasExited;

    /// <summary>The process's exit code once it has ended (128 + N for signal N).</summary>
    public int? ExitCode { get; private set; }

    /// <summary>How the process ended (its exit code or signal), once it has.</summary>
    public string? ExitDescription { get; private set; }

    /// <summary>Moves <see cref="State"/> from one value to another; false when it held another value.</summary>
    public bool TryChangeState(PythonWorkerState from, PythonWorkerState to) =>
        Interlocked.CompareExchange(ref _state, (int)to, (int)from) == (int)from;

    /// <summary>
    /// Waits up to <paramref name="timeout"/> for the process to end and its stderr to be read to the end; once it
    /// has, its exit status is known here even before the Exited event has run.
    /// </summary>
    public void WaitForExit(TimeSpan timeout)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            if (_process.WaitForExit(timeout))
            {
                RecordExit();
                WaitForOutput(timeout - Stopwatch.GetElapsedTime(started));
            }
        }
        catch (InvalidOperationException)
        {
            // Disposed by the supervisor once it saw the exit.
        }
    }

    /// <summary><see cref="WaitForExit"/> without a thread: for a request on its own flow whose worker's channel ended.</summary>
    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        var started = Stopwatch.GetTimestamp();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
            RecordExit();
            var left = timeout - Stopwatch.GetElapsedTime(started);
            if (left > TimeSpan.Zero)
            {
                await Task.WhenAny(_stderr, Task.Delay(left)).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException)
        {
            // Still running after the timeout, or disposed by the supervisor once it saw the exit.
        }
    }

    /// <summary>Ends the pending frame reads of its channels early: the supervisor is killing it, and its requests time out now.</summary>
    public void CancelPendingReads()
    {
        PythonWorkerChannel[] channels;
        lock (_channels)
        {
            channels = [.. _channels];
        }

        foreach (var channel in channels)
        {
            channel.CancelPendingRead();
        }
    }

    /// <summary>
    /// Waits, at most <paramref name="timeout"/>, until what the worker wrote to stderr before it ended is logged and
    /// in <see cref="Tail"/>: bounded, since a child the app started may hold the pipe open after the worker is gone.
    /// </summary>
    private void WaitForOutput(TimeSpan timeout)
    {
        if (timeout > TimeSpan.Zero)
        {
            _ = _stderr.Wait(timeout);
        }
    }

    /// <summary>Starts <c>gateway_worker.py</c> with the paths on its <c>sys.path</c>; the caller loads apps into it.</summary>
    /// <exception cref="PythonUnavailableException">The Python executable could not be started.</exception>
    public static PythonWorkerProcess Start(
        string executable, string script, IEnumerable<string> paths, int generation, int limit, int threads, ILoggerFactory loggers, Action<PythonWorkerProcess> exited)
    {
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        Socket? listener = null;
        string? listenerPath = null;
        if (threads > 1)
        {
            // The worker connects its other channels back to this socket (gateway_worker.py), only the host's user can.
            listenerPath = Path.Combine(Path.GetDirectoryName(script)!, $"channels-{Guid.NewGuid():N}.sock");
            listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            listener.Bind(new UnixDomainSocketEndPoint(listenerPath));
            listener.Listen(threads);
            start.Environment["ADAPTER_GATEWAY_CHANNELS"] = listenerPath;
            start.Environment["ADAPTER_GATEWAY_THREADS"] = threads.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        start.ArgumentList.Add("-u");
        start.ArgumentList.Add(script);
        foreach (var path in paths)
        {
            start.ArgumentList.Add(Path.GetFullPath(path));
        }

        // The worker's stdout pipe carries the framed channel, so the app's fd 1 is a pipe of its own, inherited
        // under the number named here; its read end stays in the host, which logs what arrives (Python.stdout).
        var (stdout, stdoutWrite) = PosixPipe.Create();
        start.Environment[StdoutVariable] = stdoutWrite.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        try
        {
            // Inheritable only across this start: a process another thread starts meanwhile may inherit it too, which
            // only delays the end of this pipe until that process ends (nothing waits for it).
            PosixPipe.Inheritable(stdoutWrite);
            process.Start();
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or FileNotFoundException)
        {
            process.Dispose();
            stdout.Dispose();
            CloseListener(listener, listenerPath);
            throw new PythonUnavailableException($"Cannot start the Python worker process '{executable}': {ex.Message}. Install python3, or choose an interpreter with {PythonInterpreter.Setting}.", ex);
        }
        finally
        {
            PosixPipe.Close(stdoutWrite);
        }

        var worker = new PythonWorkerProcess(process, generation, limit) { _listener = listener, _listenerPath = listenerPath, Threads = threads };
        worker._stdoutPipe = stdout;
        _ = PythonOutputReader.Start(stdout, 20, "stdout", marked: false, (level, name, text) => worker.Output(loggers, level, name, text));
        worker._stderr = PythonOutputReader.Start(process.StandardError.BaseStream, 30, "stderr", marked: true, (level, name, text) => worker.Output(loggers, level, name, text));
        process.Exited += (_, _) => _ = worker.ReportExitAsync(exited);
        return worker;
    }

    /// <summary>
    /// Records how the process ended and reports it once what it wrote to stderr before it ended has been read (at
    /// most <see cref="OutputGrace"/> later): the crash report (event 108) quotes that last output, a fatal error's
    /// traceback or faulthandler's dump included.
    /// </summary>
    private async Task ReportExitAsync(Action<PythonWorkerProcess> exited)
    {
        RecordExit();
        await Task.WhenAny(_stderr, Task.Delay(OutputGrace)).ConfigureAwait(false);
        exited(this);
    }

    /// <summary>Channels it serves at once (<c>--threads</c>).</summary>
    public int Threads { get; private init; } = 1;

    /// <summary>True during the start handshake, which holds the first channel and may still be connecting the others.</summary>
    public bool Starting
    {
        get => Volatile.Read(ref _starting);
        set => Volatile.Write(ref _starting, value);
    }

    /// <summary>True while a request or the start handshake holds one of its channels: only then may it not be disposed.</summary>
    public bool Held
    {
        get
        {
            lock (_channels)
            {
                return Starting || _channels.Any(static c => c.Held);
            }
        }
    }

    /// <summary>
    /// Start handshake: accepts the other channels the worker connects back (one per further thread), waiting until
    /// <paramref name="deadline"/>; false when they did not all come (the worker ended, or took too long).
    /// </summary>
    public bool ConnectChannels(CancellationToken deadline)
    {
        if (_listener is null)
        {
            return true;
        }

        try
        {
            for (var i = 1; i < Threads; i++)
            {
                var accept = _listener.AcceptAsync(deadline).AsTask();
                while (!accept.Wait(TimeSpan.FromMilliseconds(100)))
                {
                    if (_process.HasExited || deadline.IsCancellationRequested)
                    {
                        return false;
                    }
                }

                var socket = accept.Result;
                var stream = new NetworkStream(socket, ownsSocket: true);
                lock (_channels)
                {
                    _channels.Add(new PythonWorkerChannel(this, stream, stream, () => socket.Shutdown(SocketShutdown.Send)));
                }
            }

            return true;
        }
        catch (Exception ex) when (ex is AggregateException or SocketException or OperationCanceledException)
        {
            return false;
        }
        finally
        {
            CloseListener(_listener, _listenerPath);
            _listener = null;
        }
    }

    /// <summary>Asks the worker to end: each of its channels' threads ends at the end of its input, after any request it is in.</summary>
    public void CloseInput()
    {
        PythonWorkerChannel[] channels;
        lock (_channels)
        {
            channels = [.. _channels];
        }

        foreach (var channel in channels)
        {
            channel.CloseInput();
        }
    }

    /// <summary>
    /// SIGTERM: the worker ends at once if idle; inside a request it writes where the app is to stderr and ends
    /// after the request, so a stuck one needs the SIGKILL that follows.
    /// </summary>
    public void Terminate()
    {
        if (!_process.HasExited)
        {
            _ = Kill(Id, SigTerm);
        }
    }

    /// <summary>SIGKILL.</summary>
    public void Kill()
    {
        try
        {
            // With the app's own children, which would otherwise outlive it (and hold its stderr open).
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    /// <summary>Keeps how the process ended, for the log: its exit code, or the signal that killed it.</summary>
    private void RecordExit()
    {
        var code = _process.ExitCode;
        ExitCode = code;

        // .NET reports a process killed by signal N as exit code 128 + N.
        ExitDescription = code > 128 && code < 160 ? $"killed by signal {code - 128} (exit code {code})" : $"exit code {code}";
    }

    /// <summary>The last lines the worker wrote to stderr.</summary>
    public string Tail()
    {
        lock (_tail)
        {
            return _tail.Count == 0 ? "(no output)" : string.Join('\n', _tail);
        }
    }

    public void Dispose()
    {
        PythonWorkerChannel[] channels;
        lock (_channels)
        {
            channels = [.. _channels];
        }

        foreach (var channel in channels)
        {
            channel.Dispose();
        }

        CloseListener(_listener, _listenerPath);
        _stdoutPipe?.Dispose();
        _process.Dispose();
    }

    private static void CloseListener(Socket? listener, string? path)
    {
        listener?.Dispose();
        if (path is not null)
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// One entry of the worker's output: a logging record the bridge marked, or a burst of raw fd 1 or fd 2 output
    /// (see <see cref="PythonOutputReader"/>); its last lines are kept for <see cref="Tail"/>.
    /// </summary>
    private void Output(ILoggerFactory loggers, int level, string name, string text)
    {
        foreach (var line in text.Split('\n'))
        {
            Remember(line);
        }

        PythonLogging.Write(loggers, level, name, text);
    }

    private void Remember(string line)
    {
        lock (_tail)
        {
            if (_tail.Count == TailLines)
            {
                _tail.Dequeue();
            }

            _tail.Enqueue(line);
        }
    }

    /// <summary>A frame's payload as text.</summary>
    public static string Text(byte[] payload) => Encoding.UTF8.GetString(payload);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}

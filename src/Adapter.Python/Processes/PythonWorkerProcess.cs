using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Adapter;

/// <summary>
/// One worker process of the Python gateway and the framed pipe to it (the protocol is described in
/// <c>gateway_worker.py</c>). The request thread that holds the worker reads and writes frames; the
/// supervisor only looks at <see cref="WaitingSince"/>, signals the process, and closes its input.
/// </summary>
internal sealed partial class PythonWorkerProcess : IDisposable
{
    private const int TailLines = 20;
    private const int SigTerm = 15;
    private const int SmallFrame = 16 * 1024;
    private const string StdoutVariable = "ADAPTER_WORKER_STDOUT_FD";
    private static readonly TimeSpan OutputGrace = TimeSpan.FromSeconds(1);

    private readonly Process _process;
    private readonly Stream _toWorker;
    private readonly Stream _fromWorker;
    private readonly Queue<string> _tail = new();
    private readonly byte[] _header = new byte[5];
    private Task _stderr = Task.CompletedTask;
    private Stream? _stdoutPipe;
    private long _waitingSince;
    private bool _held;
    private int _state;

    private PythonWorkerProcess(Process process, int generation, int limit)
    {
        _process = process;
        _toWorker = process.StandardInput.BaseStream;
        // Buffered: a frame's header and a small payload (or several small frames) arrive in one read.
        _fromWorker = new BufferedStream(process.StandardOutput.BaseStream, 65536);
        Generation = generation;
        Limit = limit;
        Id = process.Id;
    }

    /// <summary>The worker's process id.</summary>
    public int Id { get; }

    /// <summary>The generation it was started for; a reload starts a new one.</summary>
    public int Generation { get; }

    /// <summary>The requests it serves before it is replaced (its jitter included); 0 for no limit.</summary>
    public int Limit { get; }

    /// <summary>Requests it has served (written by the thread holding it).</summary>
    public int Served { get; set; }

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

    /// <summary>
    /// A <see cref="Stopwatch"/> timestamp while the host waits for a frame from the worker, 0 otherwise: the
    /// supervisor kills a worker silent for longer than the request timeout.
    /// </summary>
    public long WaitingSince => Volatile.Read(ref _waitingSince);

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
        string executable, string script, IEnumerable<string> paths, int generation, int limit, ILoggerFactory loggers, Action<PythonWorkerProcess> exited)
    {
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
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
            throw new PythonUnavailableException($"Cannot start the Python worker process '{executable}': {ex.Message}. Install python3, or set PythonGatewayOptions.PythonExecutable.", ex);
        }
        finally
        {
            PosixPipe.Close(stdoutWrite);
        }

        var worker = new PythonWorkerProcess(process, generation, limit);
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

    /// <summary>Sends one frame.</summary>
    private void Send(byte kind, ReadOnlySpan<byte> payload)
    {
        // One write for a small frame, so the worker wakes once for it.
        var frame = ArrayPool<byte>.Shared.Rent(5 + Math.Min(payload.Length, SmallFrame));
        try
        {
            frame[0] = kind;
            BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(1), payload.Length);
            if (payload.Length <= SmallFrame)
            {
                payload.CopyTo(frame.AsSpan(5));
                _toWorker.Write(frame, 0, 5 + payload.Length);
            }
            else
            {
                _toWorker.Write(frame, 0, 5);
                _toWorker.Write(payload);
            }

            _toWorker.Flush();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    /// <summary>Reads the next frame; null when the worker is gone (EOF or a broken pipe).</summary>
    public (byte Kind, byte[] Payload)? Receive()
    {
        // wsgi.errors text does not count as the app making progress: the silence clock runs on across it.
        if (Volatile.Read(ref _waitingSince) == 0)
        {
            Volatile.Write(ref _waitingSince, Stopwatch.GetTimestamp());
        }

        var keepClock = false;
        try
        {
            _fromWorker.ReadExactly(_header);
            var length = BinaryPrimitives.ReadInt32BigEndian(_header.AsSpan(1));
            var payload = length == 0 ? [] : new byte[length];
            _fromWorker.ReadExactly(payload);
            keepClock = _header[0] == (byte)'E';
            return (_header[0], payload);
        }
        catch (Exception ex) when (ex is EndOfStreamException or IOException or ObjectDisposedException)
        {
            return null;
        }
        finally
        {
            if (!keepClock)
            {
                Volatile.Write(ref _waitingSince, 0);
            }
        }
    }

    /// <summary>True while a request thread or the start handshake reads and writes the pipe: only then may it not be disposed.</summary>
    public bool Held
    {
        get => Volatile.Read(ref _held);
        set => Volatile.Write(ref _held, value);
    }

    /// <summary>Sends a frame, false when the worker is gone.</summary>
    public bool TrySend(byte kind, ReadOnlySpan<byte> payload)
    {
        try
        {
            Send(kind, payload);
            return true;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>Asks the worker to end: it exits when it reads the end of its input, after any request it is in.</summary>
    public void CloseInput()
    {
        try
        {
            _toWorker.Dispose();
        }
        catch (IOException)
        {
            // Already gone.
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
        CloseInput();
        _fromWorker.Dispose();
        _stdoutPipe?.Dispose();
        _process.Dispose();
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

using System.Collections.Concurrent;

namespace Adapter;

/// <summary>
/// One request's .NET side for the bridge: the adapter's start_response and write, the body to read and the
/// errors writer. Python reaches it through <see cref="PythonDispatch"/> by the id it was registered under.
/// </summary>
internal sealed class PythonCall(StartResponse startResponse, Stream? input, TextWriter? errors) : IDisposable
{
    private static readonly ConcurrentDictionary<long, PythonCall> Registered = new();
    private static long s_lastId;

    private Action<byte[]>? _write;
    private bool _delivered;

    /// <summary>The id Python knows this request by, while it is registered.</summary>
    public long Id { get; } = Interlocked.Increment(ref s_lastId);

    public Stream? Input => input;

    public TextWriter? Errors => errors;

    /// <summary>The request body's failure, once a read failed: the request's outcome, whatever the app made of it.</summary>
    public System.Runtime.ExceptionServices.ExceptionDispatchInfo? InputFailure { get; private set; }

    /// <summary>
    /// The first .NET failure met on the app's behalf (the body's, else a write's: the client gone), raised in Python
    /// as an I/O error; when the app's call fails, the adapter answers as this failure does, not as an app error.
    /// </summary>
    public System.Runtime.ExceptionServices.ExceptionDispatchInfo? HostFailure => InputFailure ?? _outputFailure;

    private System.Runtime.ExceptionServices.ExceptionDispatchInfo? _outputFailure;

    /// <summary>Notes a failure of write() or start_response on the .NET side (see <see cref="HostFailure"/>).</summary>
    public void Failed(Exception failure) => _outputFailure ??= System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure);

    /// <summary>
    /// Reads the request body for wsgi.input, in both modes: the bytes read, 0 at its end, -1 once it failed (too
    /// large, malformed, cut short; kept in <see cref="InputFailure"/>, and every later read answers -1 too).
    /// </summary>
    public int ReadInput(Span<byte> buffer)
    {
        if (InputFailure is not null)
        {
            return -1;
        }

        if (input is null)
        {
            return 0;
        }

        try
        {
            return input.Read(buffer);
        }
        catch (Exception ex)
        {
            InputFailure = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex);
            return -1;
        }
    }

    /// <summary><see cref="ReadInput"/> without a thread, for a worker process's read on the request's own flow.</summary>
    public async ValueTask<int> ReadInputAsync(Memory<byte> buffer)
    {
        if (InputFailure is not null)
        {
            return -1;
        }

        if (input is null)
        {
            return 0;
        }

        try
        {
            return await input.ReadAsync(buffer).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            InputFailure = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex);
            return -1;
        }
    }

    public static PythonCall Register(StartResponse startResponse, Stream? input, TextWriter? errors)
    {
        var call = new PythonCall(startResponse, input, errors);
        Registered[call.Id] = call;
        return call;
    }

    /// <summary>The request registered under <paramref name="id"/>; throws once it has ended.</summary>
    public static PythonCall Find(long id) =>
        Registered.TryGetValue(id, out var call)
            ? call
            : throw new InvalidOperationException("The request has ended; its write, wsgi.input and wsgi.errors are no longer usable.");

    /// <summary>
    /// Hands the status and headers start_response accepted (checked in Python already) to the adapter, as one text:
    /// the status and each name and value, NUL-separated. A later head replaces an earlier one, as start_response
    /// with exc_info does before the body starts.
    /// </summary>
    public void Deliver(string head)
    {
        var parts = head.Split('\0');
        var headers = new List<(string Name, string Value)>(parts.Length / 2);
        for (var i = 1; i + 1 < parts.Length; i += 2)
        {
            headers.Add((parts[i], parts[i + 1]));
        }

        Start(parts[0], headers, _delivered ? new ReplacedHead() : null);
    }

    /// <summary>The adapter's start_response (which checks the status and headers and throws what it refuses).</summary>
    public void Start(string status, List<(string Name, string Value)> headers, Exception? excInfo)
    {
        _write = startResponse(status, headers, excInfo);
        _delivered = true;
    }

    /// <summary>Whether the app has handed over body bytes (a non-empty chunk or write): past it, close()'s failure no longer changes the response.</summary>
    public bool BodyStarted { get; set; }

    /// <summary>write(data): sends at once.</summary>
    public void Write(byte[] data)
    {
        var write = _write ?? throw new InvalidOperationException("write() was called before start_response().");
        if (data.Length > 0)
        {
            BodyStarted = true;
        }

        write(data);
    }

    /// <summary>wsgi.errors text from Python: one write (a traceback, say) is one log entry.</summary>
    public void Error(string text)
    {
        if (errors is GatewayErrorsWriter writer)
        {
            writer.WriteEntry(text);
        }
        else
        {
            errors?.Write(text);
        }
    }

    public void Dispose() => Registered.TryRemove(Id, out _);

    /// <summary>Stands for the exc_info of a start_response call that replaces the status and headers.</summary>
    private sealed class ReplacedHead() : Exception("start_response was called again with exc_info before the body started.");
}

using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Adapter;

/// <summary>
/// One request's run of a gateway app: built on the request thread, executed on a worker thread.
/// </summary>
/// <remarks>
/// Invariant: the worker touches the <see cref="HttpContext"/> only inside an adapter section
/// (<see cref="BeginAdapterWork"/> … <see cref="EndAdapterWork"/>). A request times out only while no section
/// is open, and once timed out no section can open again, so a stuck app that finally returns can never
/// touch a context Kestrel has already reused.
/// </remarks>
internal sealed class GatewayExchange
{
    private const int TimedOut = -1;
    private const int Ended = -2;

    private readonly GatewayHandler _handler;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ExecutionContext? _executionContext;
    private readonly int _mountSegments;
    private int _state;
    private int _answered;
    private int _leftQueue;
    private GatewayResult _result;
    private long _lastHandOff;
    private ExceptionDispatchInfo? _failure;
    private string? _scriptName;
    private string? _pathInfo;
    private GatewayInputStream? _input;
    private GatewayErrorsWriter? _errors;
    private Activity? _activity;
    private bool _running;
    private bool _dropped;

    public GatewayExchange(GatewayHandler handler, HttpContext context, int mountSegments)
    {
        _handler = handler;
        Context = context;
        _mountSegments = mountSegments;
        var request = context.Request;
        Method = request.Method;
        LogPath = LogText.Escape(request.PathBase.HasValue ? request.PathBase.Value + request.Path.Value : request.Path.Value ?? "");
        _lastHandOff = Environment.TickCount64;
        ArrivedAt = Stopwatch.GetTimestamp();

        // The app sees the request's Activity, logging scopes and AsyncLocals, as code on the request thread would.
        _executionContext = ExecutionContext.Capture();
        Response = new GatewayResponse(this);
        Environ = new GatewayEnviron(this);
    }

    public HttpContext Context { get; }

    /// <summary>When the request reached the adapter, as a <see cref="Stopwatch"/> timestamp.</summary>
    public long ArrivedAt { get; }

    /// <summary>When the request was queued for a worker (after a short body was read), as a <see cref="Stopwatch"/> timestamp.</summary>
    public long QueuedAt { get; private set; }

    /// <summary>Called as the request joins the queue: time spent reading its body counts neither as queue time nor as app silence.</summary>
    public void MarkQueued()
    {
        QueuedAt = Stopwatch.GetTimestamp();
        Volatile.Write(ref _lastHandOff, Environment.TickCount64);
    }

    private GatewayMetrics Metrics => _handler.Metrics;

    /// <summary>
    /// True when the handler's app is a method of <paramref name="app"/> itself, not wrapped: this exchange calls it on
    /// its worker thread and walks the body it returns on that same thread, to the end and its Dispose.
    /// </summary>
    public bool CallsDirectly(object app) => ReferenceEquals(_handler.App.Target, app);

    public string Method { get; }

    public string LogPath { get; }

    public ILogger Logger => _handler.Logger;

    public GatewayOptions Options => _handler.Options;

    public SpoolBudget SpoolBudget => _handler.SpoolBudget;

    public GatewayResponse Response { get; }

    public GatewayEnviron Environ { get; }

    public Task Completion => _completion.Task;

    public bool WasRejected { get; private set; }

    /// <summary>Set on the worker when reading the request body found the client gone.</summary>
    public bool ClientLeft { get; set; }

    public string ScriptName
    {
        get
        {
            EnsurePaths();
            return _scriptName!;
        }
    }

    public string PathInfo
    {
        get
        {
            EnsurePaths();
            return _pathInfo!;
        }
    }

    public string RawTarget =>
        Context.Features.Get<IHttpRequestFeature>()?.RawTarget
        ?? Context.Request.PathBase + Context.Request.Path + Context.Request.QueryString;

    public Stream Input => _input ??= new GatewayInputStream(this);

    public TextWriter Errors => _errors ??= new GatewayErrorsWriter(Logger, LogPath);

    public void BeginAdapterWork()
    {
        if (!TryBeginAdapterWork())
        {
            throw Volatile.Read(ref _state) == TimedOut
                ? new RequestTimedOutException()
                : new InvalidOperationException("The request has ended; its environ, input and write are no longer usable.");
        }
    }

    /// <summary>Opens an adapter section; false once the request timed out or ended.</summary>
    private bool TryBeginAdapterWork()
    {
        while (true)
        {
            var state = Volatile.Read(ref _state);
            if (state is TimedOut or Ended)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _state, state + 1, state) == state)
            {
                return true;
            }
        }
    }

    /// <param name="handOff">True when the app handed the adapter something (a chunk, a write, a read): its silence clock restarts.</param>
    public void EndAdapterWork(bool handOff)
    {
        if (handOff)
        {
            Volatile.Write(ref _lastHandOff, Environment.TickCount64);
        }

        Interlocked.Decrement(ref _state);
    }

    /// <summary>Marks the request timed out when the app has been silent past <paramref name="timeout"/>.</summary>
    public bool TryTimeOut(TimeSpan timeout) =>
        Environment.TickCount64 - Volatile.Read(ref _lastHandOff) >= (long)timeout.TotalMilliseconds
        && Interlocked.CompareExchange(ref _state, TimedOut, 0) == 0;

    /// <summary>True once the watchdog timed the request out; the app's output is discarded from then on.</summary>
    public bool HasTimedOut => Volatile.Read(ref _state) == TimedOut;

    /// <summary>Ends the request's wait early, after a timeout; the app may still be running.</summary>
    public void Release() => _completion.TrySetResult();

    public void ThrowIfFailed() => _failure?.Throw();

    /// <summary>Counts the request's outcome; only the first call per request counts.</summary>
    public void MarkAnswered(GatewayResult result)
    {
        if (Interlocked.Exchange(ref _answered, 1) == 0)
        {
            Metrics.Answered(result, ArrivedAt);
        }
    }

    /// <summary>Takes the request out of the queue's count; true only the first time (a worker, or a timeout while queued).</summary>
    public bool TryLeaveQueue() => Interlocked.Exchange(ref _leftQueue, 1) == 0;

    /// <summary>True once the request left the queue's count (taken by a worker, or answered while queued).</summary>
    public bool HasLeftQueue => Volatile.Read(ref _leftQueue) != 0;

    /// <summary>Answers a request still queued when the pool shuts down; the app is never called.</summary>
    public void Reject()
    {
        if (Interlocked.CompareExchange(ref _state, Ended, 0) == 0)
        {
            WasRejected = true;
            MarkAnswered(GatewayResult.Rejected);
            _completion.TrySetResult();
        }
    }

    /// <summary>Runs the app on the calling worker thread.</summary>
    public void Execute()
    {
        if (_executionContext is null)
        {
            Run();
        }
        else
        {
            ExecutionContext.Run(_executionContext, static state => ((GatewayExchange)state!).Run(), this);
        }
    }

    private void Run()
    {
        bool aborted;
        if (!TryBeginAdapterWork())
        {
            // Timed out or rejected while queued: the client was already answered.
            return;
        }

        try
        {
            aborted = Context.RequestAborted.IsCancellationRequested;
        }
        finally
        {
            // The app's silence clock starts now, not when the request was queued.
            EndAdapterWork(handOff: true);
        }

        if (aborted)
        {
            GatewayLog.DroppedWhileQueued(Logger, Method, LogPath);
            _result = GatewayResult.Canceled;
            Finish();
            return;
        }

        Metrics.Started();
        try
        {
            using var activity = GatewayDiagnostics.Source.StartActivity(GatewayDiagnostics.AppActivityName);
            activity?.SetTag(GatewayDiagnostics.TimeInQueueTag, Stopwatch.GetElapsedTime(QueuedAt).TotalSeconds);
            RunApp();
            if (_result != GatewayResult.Completed)
            {
                activity?.SetStatus(ActivityStatusCode.Error, _result.ToString());
            }
        }
        finally
        {
            Metrics.Stopped();
        }

        Finish();
    }

    /// <summary>
    /// Runs an app that works outside the host (<see cref="IGatewayAsyncApp"/>) on the request's own flow: no worker
    /// thread is taken, and the pool's watchdog is not involved (the app reports its own timeout).
    /// </summary>
    public async Task ExecuteAsync(IGatewayAsyncApp app)
    {
        MarkQueued();
        Metrics.Queued();
        using var activity = GatewayDiagnostics.Source.StartActivity(GatewayDiagnostics.AppActivityName);
        _activity = activity;
        try
        {
            await app.RunAsync(this).ConfigureAwait(false);
            if (!_dropped)
            {
                Response.Complete();
            }
        }
        catch (RequestTimedOutException)
        {
            if (Interlocked.CompareExchange(ref _state, TimedOut, 0) == 0)
            {
                GatewayLog.RequestTimedOut(Logger, Options.RequestTimeout, Method, LogPath);
                MarkAnswered(GatewayResult.TimedOut);
            }
        }
        catch (GatewayRejectedException)
        {
            WasRejected = true;
            MarkAnswered(GatewayResult.Rejected);
        }
        catch (Exception ex)
        {
            HandleFailure(ex);
        }
        finally
        {
            if (_running)
            {
                Metrics.Stopped();
            }
            else
            {
                Metrics.Dequeued(QueuedAt);
            }

            _activity = null;
        }

        if (_result != GatewayResult.Completed || HasTimedOut)
        {
            activity?.SetStatus(ActivityStatusCode.Error, HasTimedOut ? nameof(GatewayResult.TimedOut) : _result.ToString());
        }

        Finish();
    }

    /// <summary>
    /// Called by an <see cref="IGatewayAsyncApp"/> once a worker took the request: it leaves the queue's count and
    /// counts as running; false when the client left meanwhile (the app is then not called).
    /// </summary>
    public bool MarkRunning()
    {
        Metrics.Dequeued(QueuedAt);
        _running = true;
        Metrics.Started();
        _activity?.SetTag(GatewayDiagnostics.TimeInQueueTag, Stopwatch.GetElapsedTime(QueuedAt).TotalSeconds);
        if (Context.RequestAborted.IsCancellationRequested)
        {
            GatewayLog.DroppedWhileQueued(Logger, Method, LogPath);
            _result = GatewayResult.Canceled;
            _dropped = true;
            return false;
        }

        return true;
    }

    private void RunApp()
    {
        IEnumerable<byte[]>? body = null;
        IEnumerator<byte[]>? enumerator = null;
        var closed = false;
        try
        {
            body = _handler.App(Environ, Response.StartResponse)
                ?? throw new InvalidOperationException("The gateway app returned null instead of an iterable of byte arrays.");
            if (body is FileWrapperBody { Stream: FileStream file } && GatewayResponse.CanSendFile(file))
            {
                Response.SendFile(file);
            }
            else
            {
                Response.Prepare(body);
                enumerator = body.GetEnumerator();
                while (enumerator.MoveNext())
                {
                    Response.WriteChunk(enumerator.Current);
                }
            }

            // Closed before the response completes, so a client that saw the whole body can count on close() having run.
            closed = true;
            Close(body, enumerator);
            Response.Complete();
        }
        catch (Exception ex)
        {
            if (!closed)
            {
                Close(body, enumerator);
            }

            HandleFailure(ex);
        }
    }

    /// <summary>Disposes the iterable and its enumerator, each exactly once; a failure there is logged, never thrown.</summary>
    private void Close(IEnumerable<byte[]>? body, IEnumerator<byte[]>? enumerator)
    {
        try
        {
            enumerator?.Dispose();
        }
        catch (Exception ex)
        {
            GatewayLog.DisposeFailed(Logger, Method, LogPath, ex);
        }

        if (body is IDisposable disposable && !ReferenceEquals(body, enumerator))
        {
            try
            {
                disposable.Dispose();
            }
            catch (Exception ex)
            {
                GatewayLog.DisposeFailed(Logger, Method, LogPath, ex);
            }
        }
    }

    private void HandleFailure(Exception exception)
    {
        if (!TryBeginAdapterWork())
        {
            // The watchdog answered the client already; this app's output is discarded.
            return;
        }

        try
        {
            var context = Context;
            _result = GatewayResult.Failed;
            // The app may wrap the departure (a Python exception does): what the adapter saw decides.
            if (exception is ClientDisconnectedException || ClientLeft || Response.BodyFailed || context.RequestAborted.IsCancellationRequested)
            {
                _result = GatewayResult.Canceled;
                GatewayLog.ClientDisconnected(Logger, Method, LogPath);
            }
            else if (exception is BadHttpRequestException bad && !context.Response.HasStarted)
            {
                // A broken request body (too large, malformed chunking) is the client's fault, not the app's.
                GatewayLog.BadRequestBody(Logger, Method, LogPath, bad.StatusCode, bad);
                context.Response.Clear();
                context.Response.StatusCode = bad.StatusCode;
            }
            else if (exception is GatewayUpstreamException upstream && !context.Response.HasStarted)
            {
                GatewayLog.UpstreamFailed(Logger, Method, LogPath, upstream.Message);
                context.Response.Clear();
                context.Response.StatusCode = StatusCodes.Status502BadGateway;
            }
            else if (!context.Response.HasStarted)
            {
                GatewayLog.AppFailedBeforeResponse(Logger, Method, LogPath, exception);
                context.Response.Clear();
                if (exception is GatewayForeignException)
                {
                    // Answered here, logged once: the pipeline's exception handlers would log the traceback again.
                    context.Response.StatusCode = StatusCodes.Status500InternalServerError;
                }
                else
                {
                    _failure = ExceptionDispatchInfo.Capture(exception);
                }
            }
            else
            {
                // Rethrown into Kestrel, which ends the connection after the bytes already sent and
                // without the final chunk: the client sees a truncated response, never a complete one.
                GatewayLog.AppFailedAfterResponse(Logger, Method, LogPath, exception);
                // A failure the adapter has logged whole (a Python traceback) goes on as a one-line stand-in, so
                // Kestrel's own entry for it does not repeat the traceback.
                _failure = ExceptionDispatchInfo.Capture(exception is GatewayForeignException or GatewayUpstreamException
                    ? new GatewayAppFailedException("The app failed after its response started; the adapter's event 2 has the details.")
                    : exception);
            }
        }
        finally
        {
            EndAdapterWork(handOff: false);
        }
    }

    private void Finish()
    {
        var spin = new SpinWait();
        while (true)
        {
            var state = Volatile.Read(ref _state);
            if (state is TimedOut or Ended || Interlocked.CompareExchange(ref _state, Ended, 0) == 0)
            {
                break;
            }

            // A thread the app started is still inside a section; it is brief.
            spin.SpinOnce();
        }

        _errors?.Flush();
        _completion.TrySetResult();
    }

    /// <summary>
    /// In the middleware, once the body has settled (flushed, or the client gone): counts the outcome, a
    /// client that left during the last bytes as canceled.
    /// </summary>
    public void CountOutcome()
    {
        if (_result == GatewayResult.Completed && Response.BodyFailed)
        {
            _result = GatewayResult.Canceled;
            GatewayLog.ClientDisconnected(Logger, Method, LogPath);
        }

        MarkAnswered(_result);
    }

    private void EnsurePaths()
    {
        if (_scriptName is null)
        {
            (_scriptName, _pathInfo) = RequestPath.Split(Context.Request, _mountSegments);
        }
    }
}

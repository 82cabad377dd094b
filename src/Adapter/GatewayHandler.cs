using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace Adapter;

/// <summary>
/// Runs one gateway app for requests: queues each on the worker pool, waits for it without blocking a
/// pool thread, enforces the request timeout, and lets an early app failure flow into the pipeline.
/// </summary>
internal sealed class GatewayHandler
{
    private readonly GatewayWorkerPool _pool;

    // Set for an app that runs outside the host (a Python worker process): its requests take no worker thread.
    private readonly IGatewayAsyncApp? _outside;

    public GatewayHandler(GatewayApp app, GatewayWorkerPool pool)
    {
        App = app;
        _pool = pool;
        _outside = app.Target as IGatewayAsyncApp;
    }

    public GatewayApp App { get; }

    public ILogger Logger => _pool.Logger;

    public GatewayOptions Options => _pool.Options;

    public GatewayMetrics Metrics => _pool.Metrics;

    public SpoolBudget SpoolBudget => _pool.SpoolBudget;

    /// <param name="context">The request.</param>
    /// <param name="mountSegments">Leading segments of <c>Request.Path</c> that belong to SCRIPT_NAME (endpoint routing).</param>
    public Task InvokeAsync(HttpContext context, int mountSegments = 0)
    {
        var exchange = new GatewayExchange(this, context, mountSegments);
        if (RequestPath.IsAmbiguous(exchange.ScriptName, exchange.PathInfo))
        {
            return RefuseAmbiguousPath(exchange);
        }

        if (_pool.IsStopping)
        {
            // A graceful stop: the request is served, and its connection then closed (Connection: close, or HTTP/2's
            // GOAWAY), so the client's next request goes to a new connection, elsewhere.
            context.Features.Get<IConnectionLifetimeNotificationFeature>()?.RequestClose();
        }

        if (IsFull)
        {
            // Refused at once, before any body is read.
            return Refuse(exchange);
        }

        var length = context.Request.ContentLength;
        if (length > context.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize)
        {
            // A declared body over the server's limit: 413 without calling the app (Kestrel would refuse it on the first read).
            return TooLarge(exchange, length.Value);
        }

        // A short declared body is read before the request takes a worker: a slow uploader then holds none.
        if (length > 0 && length <= Options.RequestBufferSize && !context.RequestAborted.IsCancellationRequested)
        {
            return BufferBodyThenRunAsync(exchange, (int)length);
        }

        // A larger or chunked body is spooled to disk before the request takes a worker, as nginx does in front
        // of gunicorn: a slow uploader then holds a connection, never a worker.
        if (Options.RequestSpoolLimit > 0
            && (length > 0 ? length <= Options.RequestSpoolLimit : length is null && context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true)
            && !context.RequestAborted.IsCancellationRequested)
        {
            return SpoolBodyThenRunAsync(exchange);
        }

        return Run(exchange);
    }

    private async Task SpoolBodyThenRunAsync(GatewayExchange exchange)
    {
        var context = exchange.Context;
        var reader = context.Request.BodyReader;
        var spool = new SpoolFile(SpoolBudget, Options.RequestSpoolLimit);
        context.Response.RegisterForDispose(spool);
        var whole = false;
        try
        {
            while (!whole)
            {
                var result = await reader.ReadAsync(context.RequestAborted).ConfigureAwait(false);
                var buffer = result.Buffer;
                var consumed = buffer.Start;
                var spilled = false;
                foreach (var segment in buffer)
                {
                    if (spool.TryAppend(segment.Span) < 0)
                    {
                        // The limit or the disk budget is reached: the rest streams to the app as it arrives.
                        spilled = true;
                        break;
                    }

                    consumed = buffer.GetPosition(segment.Length, consumed);
                }

                reader.AdvanceTo(consumed, spilled ? consumed : buffer.End);
                if (spilled)
                {
                    if (spool.Failure is { } failure)
                    {
                        GatewayLog.SpoolFailed(Logger, exchange.Method, exchange.LogPath, failure);
                    }

                    break;
                }

                whole = result.IsCompleted;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            AnswerBodyFailure(exchange, ex is IOException io && GatewayInputStream.IsMalformed(io) ? GatewayInputStream.Malformed(io) : ex);
            return;
        }

        context.Request.Body = new SpooledRequestBody(spool, whole ? null : context.Request.Body);

        // Read through a pipe of 64 KiB reads: the one ASP.NET Core makes for a replaced body reads 4 KiB at a time,
        // and a worker process's read of wsgi.input is answered with what one read returns (a 1 GiB upload took
        // 262,144 round trips to the worker where 16,384 do).
        var spooled = PipeReader.Create(context.Request.Body, new StreamPipeReaderOptions(bufferSize: 65536, minimumReadSize: 16384, leaveOpen: true));
        context.Features.Set<IRequestBodyPipeFeature>(new SpooledBodyPipe(spooled));
        context.Response.OnCompleted(static reader => ((PipeReader)reader).CompleteAsync().AsTask(), spooled);
        await Run(exchange).ConfigureAwait(false);
    }

    /// <summary>The request body's pipe once the body is spooled: read from the spool (then the rest of the body) in large reads.</summary>
    private sealed class SpooledBodyPipe(PipeReader reader) : IRequestBodyPipeFeature
    {
        public PipeReader Reader => reader;
    }

    /// <summary>A path whose decoding made a dot segment: 400 before anything else (SPEC §2).</summary>
    private Task RefuseAmbiguousPath(GatewayExchange exchange)
    {
        GatewayLog.AmbiguousPath(Logger, exchange.LogPath, LogText.Escape(exchange.ScriptName + exchange.PathInfo));
        exchange.MarkAnswered(GatewayResult.Failed);
        exchange.Context.Response.StatusCode = StatusCodes.Status400BadRequest;
        return Task.CompletedTask;
    }

    private async Task BufferBodyThenRunAsync(GatewayExchange exchange, int length)
    {
        var context = exchange.Context;
        var reader = context.Request.BodyReader;
        try
        {
            var result = await reader.ReadAtLeastAsync(length, context.RequestAborted).ConfigureAwait(false);

            // Nothing consumed: wsgi.input reads the buffered bytes from the pipe without waiting.
            reader.AdvanceTo(result.Buffer.Start);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            AnswerBodyFailure(exchange, ex);
            return;
        }

        await Run(exchange).ConfigureAwait(false);
    }

    /// <summary>
    /// A request body that failed before the app ran: a malformed or refused body (400, 413) is answered with its
    /// status; a client that left is counted canceled.
    /// </summary>
    private void AnswerBodyFailure(GatewayExchange exchange, Exception failure)
    {
        if (failure is BadHttpRequestException bad && !GatewayInputStream.IsCutShort(bad))
        {
            GatewayLog.BadRequestBody(Logger, exchange.Method, exchange.LogPath, bad.StatusCode, bad);
            exchange.MarkAnswered(GatewayResult.Failed);
            exchange.Context.Response.StatusCode = bad.StatusCode;
        }
        else
        {
            GatewayLog.ClientDisconnected(Logger, exchange.Method, exchange.LogPath);
            exchange.MarkAnswered(GatewayResult.Canceled);
        }
    }

    private async Task TooLarge(GatewayExchange exchange, long length)
    {
        var context = exchange.Context;
        Exception refusal;
        try
        {
            // Kestrel's own refusal, from a first read: it then closes the connection after the 413 instead of
            // draining a body it will not take (which would reset the connection under the client).
            await context.Request.BodyReader.ReadAsync(context.RequestAborted).ConfigureAwait(false);
            refusal = new BadHttpRequestException(
                $"The request's Content-Length {length} is over the server's MaxRequestBodySize.", StatusCodes.Status413PayloadTooLarge);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            refusal = ex;
        }

        AnswerBodyFailure(exchange, refusal);
    }

    /// <summary>True when a request arriving now is refused: the pool has stopped, or its queue (or the outside app's) is full.</summary>
    private bool IsFull => _outside is { } outside ? _pool.HasStopped || outside.IsFull : _pool.IsFull;

    private Task Run(GatewayExchange exchange) =>
        _outside is { } outside ? RunOutsideAsync(exchange, outside)
        : _pool.TryEnqueue(exchange) ? WaitAsync(exchange)
        : Refuse(exchange);

    /// <summary>An app that runs outside the host, on the request's own flow; answered as a pool's request is.</summary>
    private async Task RunOutsideAsync(GatewayExchange exchange, IGatewayAsyncApp app)
    {
        if (IsFull)
        {
            await Refuse(exchange).ConfigureAwait(false);
            return;
        }

        await exchange.ExecuteAsync(app).ConfigureAwait(false);
        await WaitAsync(exchange).ConfigureAwait(false);
    }

    private Task Refuse(GatewayExchange exchange)
    {
        if (_pool.HasStopped)
        {
            GatewayLog.RejectedWhileStopping(Logger, exchange.Method, exchange.LogPath);
        }
        else
        {
            GatewayLog.QueueFull(Logger, _pool.Options.QueueLimit, exchange.Method, exchange.LogPath);
        }

        exchange.MarkAnswered(GatewayResult.Rejected);
        return Unavailable(exchange.Context);
    }

    private static async Task WaitAsync(GatewayExchange exchange)
    {
        // The pool's watchdog ends this wait early when the app has been silent past the request timeout.
        await exchange.Completion.ConfigureAwait(false);
        if (exchange.HasTimedOut)
        {
            // The abort (once bytes went out) also ends a pump still flushing them.
            AnswerTimedOut(exchange.Context);
            await exchange.Response.WhenBodyIdle().ConfigureAwait(false);
            return;
        }

        if (exchange.WasRejected)
        {
            await Unavailable(exchange.Context).ConfigureAwait(false);
            return;
        }

        // The worker may be gone while the pump still sends the last bytes: the request ends after them.
        var idle = exchange.Response.WhenBodyIdle();
        if (!idle.IsCompleted)
        {
            await idle.ConfigureAwait(false);
        }

        exchange.CountOutcome();
        exchange.ThrowIfFailed();
    }

    private static void AnswerTimedOut(HttpContext context)
    {
        if (context.Response.HasStarted)
        {
            context.Abort();
            return;
        }

        context.Response.Clear();
        context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
    }

    private static Task Unavailable(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.Headers[HeaderNames.RetryAfter] = "1";
        return Task.CompletedTask;
    }
}

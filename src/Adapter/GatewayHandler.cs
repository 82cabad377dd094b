using Microsoft.AspNetCore.Http;
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

    public GatewayHandler(GatewayApp app, GatewayWorkerPool pool)
    {
        App = app;
        _pool = pool;
    }

    public GatewayApp App { get; }

    public ILogger Logger => _pool.Logger;

    public GatewayMetrics Metrics => _pool.Metrics;

    /// <param name="context">The request.</param>
    /// <param name="mountSegments">Leading segments of <c>Request.Path</c> that belong to SCRIPT_NAME (endpoint routing).</param>
    public Task InvokeAsync(HttpContext context, int mountSegments = 0)
    {
        var exchange = new GatewayExchange(this, context, mountSegments);
        if (!_pool.TryEnqueue(exchange))
        {
            if (_pool.IsStopping)
            {
                GatewayLog.RejectedWhileStopping(Logger, exchange.Method, exchange.LogPath);
            }
            else
            {
                GatewayLog.QueueFull(Logger, _pool.Options.QueueLimit, exchange.Method, exchange.LogPath);
            }

            exchange.MarkAnswered(GatewayResult.Rejected);

            return Unavailable(context);
        }

        return WaitAsync(exchange);
    }

    private async Task WaitAsync(GatewayExchange exchange)
    {
        var timeout = _pool.Options.RequestTimeout;
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            await exchange.Completion.ConfigureAwait(false);
        }
        else
        {
            while (!exchange.Completion.IsCompleted)
            {
                try
                {
                    await exchange.Completion.WaitAsync(exchange.TimeUntilTimeout(timeout)).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    if (exchange.TryTimeOut(timeout))
                    {
                        TimeOut(exchange, timeout);
                        return;
                    }
                }
            }
        }

        if (exchange.WasRejected)
        {
            await Unavailable(exchange.Context).ConfigureAwait(false);
            return;
        }

        exchange.ThrowIfFailed();
    }

    private void TimeOut(GatewayExchange exchange, TimeSpan timeout)
    {
        GatewayLog.RequestTimedOut(Logger, timeout, exchange.Method, exchange.LogPath);
        exchange.MarkAnswered(GatewayResult.TimedOut);
        if (exchange.Worker is { } worker)
        {
            _pool.Abandon(worker, exchange);
        }

        var context = exchange.Context;
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

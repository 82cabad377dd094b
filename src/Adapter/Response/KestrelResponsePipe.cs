using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Http;

namespace Adapter;

/// <summary>The request's own response pipe: <see cref="HttpResponse.BodyWriter"/>, flushed under <see cref="HttpContext.RequestAborted"/>.</summary>
internal sealed class KestrelResponsePipe(GatewayExchange exchange) : IResponsePipe
{
    private static readonly TimeSpan AbortGrace = TimeSpan.FromSeconds(1);

    public void Write(ReadOnlySpan<byte> data) => exchange.Context.Response.BodyWriter.Write(data);

    public ValueTask<FlushResult> FlushAsync()
    {
        var context = exchange.Context;
        return context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    public bool IsClientGone(FlushResult result) =>
        result.IsCanceled || result.IsCompleted || exchange.Context.RequestAborted.IsCancellationRequested;

    public void Abort() => exchange.Context.Abort();

    public void DropSilentClient(TimeSpan silence)
    {
        GatewayLog.SilentClientDropped(exchange.Logger, silence, exchange.Method, exchange.LogPath);
        Abort();
    }

    public void DisposeWithRequest(IDisposable resource) => exchange.Context.Response.RegisterForDispose(resource);

    public void SpoolFailed(Exception failure) => GatewayLog.SpoolFailed(exchange.Logger, exchange.Method, exchange.LogPath, failure);

    /// <remarks>
    /// Kestrel cancels <see cref="HttpContext.RequestAborted"/> from the thread pool a moment after the abort:
    /// an app that catches the disconnect must already see the token canceled.
    /// </remarks>
    public void WaitUntilAborted()
    {
        var aborted = exchange.Context.RequestAborted;
        if (!aborted.IsCancellationRequested)
        {
            GatewayBlocking.BeforeWait();
            aborted.WaitHandle.WaitOne(AbortGrace);
        }
    }
}

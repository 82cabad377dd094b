using System.Buffers;

namespace Adapter;

/// <summary>
/// A Python WSGI app loaded into the worker processes, as a <see cref="GatewayApp"/>. Mounted by the adapter, each
/// request runs on its own flow (<see cref="RunAsync"/>): it waits for a free worker, sends it the environ, and
/// relays the response, holding no thread meanwhile. Called as a plain delegate (wrapped in another app, say), it
/// runs on the gateway worker thread that called it, blocking there.
/// </summary>
internal sealed class PythonProcessApp(PythonWorkerSupervisor supervisor, int index, string target, GatewayWorkerPool pool) : IGatewayWorkerPoolOwner, IGatewayAsyncApp
{
    public GatewayWorkerPool Pool => pool;

    public bool IsFull => supervisor.IsFull(pool.Options.QueueLimit);

    public async Task RunAsync(GatewayExchange exchange)
    {
        var (payload, length) = PythonEnviron.EncodeFrame(exchange.Environ, index);
        try
        {
            var channel = await supervisor.AcquireAsync().ConfigureAwait(false);
            if (!exchange.MarkRunning())
            {
                supervisor.Release(channel, reusable: true);
                return;
            }

            await new PythonProcessRequest(supervisor, channel, exchange, target).RunAsync(payload.AsMemory(0, length)).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(payload);
        }
    }

    public IEnumerable<byte[]> Invoke(IDictionary<string, object?> environ, StartResponse startResponse)
    {
        var (frame, length) = PythonEnviron.EncodeFrame(environ, index);
        var payload = frame.AsSpan(0, length).ToArray();
        ArrayPool<byte>.Shared.Return(frame);

        var call = new PythonCall(
            startResponse,
            environ.TryGetValue(EnvironKeys.WsgiInput, out var input) ? input as Stream : null,
            environ.TryGetValue(EnvironKeys.WsgiErrors, out var errors) ? errors as TextWriter : null);
        var worker = supervisor.Acquire();
        var body = new PythonProcessBody(supervisor, worker, call, target);
        if (!worker.TrySend((byte)'R', payload))
        {
            body.Dispose();
            throw new GatewayUpstreamException($"The Python worker process {worker.Id} for '{target}' could not be sent the request: it has ended.");
        }

        try
        {
            return body.Begin();
        }
        catch
        {
            body.Dispose();
            throw;
        }
    }
}

using System.Buffers.Binary;
using System.Text;

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
        var payload = Encode(exchange.Environ);
        var channel = await supervisor.AcquireAsync().ConfigureAwait(false);
        if (!exchange.MarkRunning())
        {
            supervisor.Release(channel, reusable: true);
            return;
        }

        await new PythonProcessRequest(supervisor, channel, exchange, target).RunAsync(payload).ConfigureAwait(false);
    }

    /// <summary>The R frame's payload: the app's index, then the environ's text entries and its other entries (<see cref="PythonEnviron.Encode"/>).</summary>
    private byte[] Encode(IDictionary<string, object?> environ)
    {
        var (strings, others) = PythonEnviron.Encode(environ);
        var stringBytes = Encoding.UTF8.GetByteCount(strings);
        var payload = new byte[8 + stringBytes + Encoding.UTF8.GetByteCount(others)];
        BinaryPrimitives.WriteInt32BigEndian(payload, index);
        BinaryPrimitives.WriteInt32BigEndian(payload.AsSpan(4), stringBytes);
        Encoding.UTF8.GetBytes(strings, payload.AsSpan(8));
        Encoding.UTF8.GetBytes(others, payload.AsSpan(8 + stringBytes));
        return payload;
    }

    public IEnumerable<byte[]> Invoke(IDictionary<string, object?> environ, StartResponse startResponse)
    {
        var payload = Encode(environ);

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

using System.Buffers.Binary;
using System.Text;

namespace Adapter;

/// <summary>
/// A Python WSGI app loaded into the worker processes, as a <see cref="GatewayApp"/>: each request takes a
/// free worker, sends it the environ, and reads the response back from it on the gateway worker thread.
/// </summary>
internal sealed class PythonProcessApp(PythonWorkerSupervisor supervisor, int index, string target, GatewayWorkerPool pool) : IGatewayWorkerPoolOwner
{
    public GatewayWorkerPool Pool => pool;

    public IEnumerable<byte[]> Invoke(IDictionary<string, object?> environ, StartResponse startResponse)
    {
        var (strings, others) = PythonEnviron.Encode(environ);
        var stringBytes = Encoding.UTF8.GetByteCount(strings);
        var payload = new byte[8 + stringBytes + Encoding.UTF8.GetByteCount(others)];
        BinaryPrimitives.WriteInt32BigEndian(payload, index);
        BinaryPrimitives.WriteInt32BigEndian(payload.AsSpan(4), stringBytes);
        Encoding.UTF8.GetBytes(strings, payload.AsSpan(8));
        Encoding.UTF8.GetBytes(others, payload.AsSpan(8 + stringBytes));

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

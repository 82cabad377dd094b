using System.Text;

namespace Adapter.Tests;

/// <summary>Small gateway apps and helpers shared by the tests.</summary>
internal static class Apps
{
    public static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    public static GatewayApp Text(string body, string status = "200 OK") => (environ, startResponse) =>
    {
        startResponse(status, [("Content-Type", "text/plain")]);
        return [Bytes(body)];
    };

    /// <summary>An app that runs <paramref name="check"/> on the worker thread and answers its result as text.</summary>
    public static GatewayApp Probe(Func<IDictionary<string, object?>, StartResponse, string> check) => (environ, startResponse) =>
    {
        var result = check(environ, startResponse);
        startResponse("200 OK", [("Content-Type", "text/plain")]);
        return [Bytes(result)];
    };
}

/// <summary>An iterable that records how it was used: chunks asked for and how often it was disposed.</summary>
internal sealed class TrackedBody(IEnumerable<byte[]> chunks) : IEnumerable<byte[]>, IDisposable
{
    private int _disposals;
    private readonly TaskCompletionSource _disposed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Disposals => Volatile.Read(ref _disposals);

    public Task Disposed => _disposed.Task;

    public IEnumerator<byte[]> GetEnumerator() => chunks.GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    public void Dispose()
    {
        Interlocked.Increment(ref _disposals);
        _disposed.TrySetResult();
    }
}

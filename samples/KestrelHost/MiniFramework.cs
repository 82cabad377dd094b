using Adapter;

namespace KestrelHost;

/// <summary>
/// The seed's small route-table framework: register handlers by path, dispatch on PATH_INFO, 404 otherwise.
/// An object with an <c>Invoke(environ, startResponse)</c> method is a gateway app via <c>obj.Invoke</c>.
/// </summary>
internal sealed class MiniFramework
{
    private readonly Dictionary<string, GatewayApp> _routes = new(StringComparer.Ordinal);

    public MiniFramework Route(string path, GatewayApp handler)
    {
        _routes[path] = handler;
        return this;
    }

    public IEnumerable<byte[]> Invoke(IDictionary<string, object?> environ, StartResponse startResponse)
    {
        var path = environ["PATH_INFO"] as string;
        if (string.IsNullOrEmpty(path))
        {
            path = "/";
        }

        if (_routes.TryGetValue(path, out var handler))
        {
            return handler(environ, startResponse);
        }

        startResponse("404 Not Found", [("Content-Type", "text/plain")]);
        return [System.Text.Encoding.UTF8.GetBytes($"Not Found: {path}\n")];
    }
}

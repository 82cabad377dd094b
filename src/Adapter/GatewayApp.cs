namespace Adapter;

/// <summary>
/// A gateway application: PEP 3333's <c>application(environ, start_response)</c> carried into C#.
/// It is called once per request on one of the adapter's dedicated worker threads and returns the
/// response body as an iterable of byte chunks.
/// </summary>
/// <param name="environ">The per-request environment (CGI variables plus <c>wsgi.*</c> keys); fresh and mutable.</param>
/// <param name="startResponse">Begins the response; must be called before the first non-empty chunk.</param>
/// <returns>The response body. When it (or its enumerator) is <see cref="IDisposable"/>, it is disposed exactly once.</returns>
public delegate IEnumerable<byte[]> GatewayApp(IDictionary<string, object?> environ, StartResponse startResponse);

namespace Adapter;

/// <summary>
/// PEP 3333's <c>start_response(status, response_headers, exc_info=None)</c>. Validates and records the
/// status and headers; they are sent with the first non-empty body chunk, or when the body ends empty.
/// </summary>
/// <param name="status">The status line without the protocol, such as <c>"200 OK"</c>; a bare <c>"200"</c> is accepted.</param>
/// <param name="headers">The response headers, in order; repeated names are sent repeatedly.</param>
/// <param name="excInfo">Set only when replacing the status after an error; rethrown when headers were already sent.</param>
/// <returns>The legacy <c>write(bytes)</c> callable, which sends a chunk at once.</returns>
public delegate Action<byte[]> StartResponse(
    string status,
    IReadOnlyList<(string Name, string Value)> headers,
    Exception? excInfo = null);

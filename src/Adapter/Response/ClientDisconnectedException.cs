namespace Adapter;

/// <summary>
/// Thrown into the app once the client has gone away: from <c>write</c> and the body pump ("the response cannot
/// be sent"), and from <c>wsgi.input</c> when the body was cut short. An <see cref="IOException"/>, as SPEC §3 asks.
/// </summary>
internal sealed class ClientDisconnectedException : IOException
{
    public ClientDisconnectedException(Exception? inner = null)
        : base("The client disconnected; the response cannot be sent.", inner)
    {
    }

    public ClientDisconnectedException(string message, Exception? inner)
        : base(message, inner)
    {
    }
}

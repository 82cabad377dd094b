namespace Adapter;

/// <summary>Thrown into the app from <c>write</c> (and ends the body pump) once the client has gone away.</summary>
internal sealed class ClientDisconnectedException(Exception? inner = null)
    : IOException("The client disconnected; the response cannot be sent.", inner);

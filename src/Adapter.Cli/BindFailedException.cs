namespace Adapter.Cli;

/// <summary>An address cannot be listened on (in use, a live unix socket, no permission): exit code 1, before any worker starts.</summary>
internal sealed class BindFailedException(string message) : Exception(message);

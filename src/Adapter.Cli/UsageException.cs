namespace Adapter.Cli;

/// <summary>Bad usage found after parsing (a config file, the working directory, a certificate): exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

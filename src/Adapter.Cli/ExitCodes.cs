namespace Adapter.Cli;

/// <summary>The <c>gateway</c> command's exit codes, gunicorn's where it has one.</summary>
internal static class ExitCodes
{
    /// <summary>A clean stop (SIGTERM, SIGINT), or <c>--check-config</c>, <c>--help</c> and <c>--version</c> done.</summary>
    public const int Success = 0;

    /// <summary>The host failed while starting or running (an address in use, a certificate Kestrel refused).</summary>
    public const int Failure = 1;

    /// <summary>Bad usage: an unknown or malformed flag, APP or bind, no app at all, an unreadable config file.</summary>
    public const int Usage = 2;

    /// <summary>An app failed to load (gunicorn's "worker failed to boot").</summary>
    public const int AppLoadFailed = 3;
}

using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Adapter;

/// <summary>
/// <see cref="PosixSignalRegistration"/> for a signal the process may have inherited as ignored. .NET's runtime "respects
/// ignored signals": when a signal's disposition is <c>SIG_IGN</c> as it is registered, <c>Create</c> succeeds but installs
/// no handler, so the callback never runs. <c>nohup</c> starts a process with SIGHUP ignored, and a gateway started that
/// way never reloaded. A server that handles a signal takes it whatever it inherited, as gunicorn does: an ignored one is
/// set back to its default just before the registration installs the handler.
/// </summary>
internal static partial class PosixSignals
{
    /// <summary>Linux's numbers, which <see cref="PosixSignal"/> has no names for (cast them: <c>(PosixSignal)UserDefined1</c>).</summary>
    public const int UserDefined1 = 10;

    /// <summary>SIGUSR2 on Linux.</summary>
    public const int UserDefined2 = 12;

    private const nint Ignored = 1;
    private const nint Default = 0;

    /// <summary>
    /// Registers <paramref name="handler"/> for <paramref name="signal"/> (a named one, or a raw number cast to
    /// <see cref="PosixSignal"/>), first taking the signal out of <c>SIG_IGN</c> if it was inherited so.
    /// </summary>
    /// <remarks>
    /// Between the reset and the registration (microseconds, at start-up) the signal has its default action; the
    /// processes this host starts afterwards inherit the default rather than <c>SIG_IGN</c> (the Python workers set
    /// their own dispositions).
    /// </remarks>
    [UnsupportedOSPlatform("windows")]
    public static PosixSignalRegistration Register(PosixSignal signal, Action<PosixSignalContext> handler)
    {
        if (OperatingSystem.IsLinux() && Number(signal) is { } number && IsIgnored(number))
        {
            _ = SetHandler(number, Default);
        }

        return PosixSignalRegistration.Create(signal, handler);
    }

    /// <summary>True when <paramref name="number"/>'s disposition is <c>SIG_IGN</c> (Linux).</summary>
    public static unsafe bool IsIgnored(int number)
    {
        // struct sigaction starts with the handler on Linux (152 bytes on x86-64 and arm64): read into a larger buffer.
        var action = stackalloc byte[512];
        return GetAction(number, null, action) == 0 && *(nint*)action == Ignored;
    }

    [UnsupportedOSPlatform("windows")]
    private static int? Number(PosixSignal signal) => signal switch
    {
        PosixSignal.SIGHUP => 1,
        PosixSignal.SIGINT => 2,
        PosixSignal.SIGQUIT => 3,
        PosixSignal.SIGTERM => 15,
        PosixSignal.SIGTTIN => 21,
        PosixSignal.SIGTTOU => 22,
        PosixSignal.SIGWINCH => 28,
        > 0 => (int)signal,
        _ => null,
    };

    [LibraryImport("libc", EntryPoint = "sigaction", SetLastError = true)]
    private static unsafe partial int GetAction(int signal, byte* action, byte* previous);

    [LibraryImport("libc", EntryPoint = "signal")]
    private static partial nint SetHandler(int signal, nint handler);
}

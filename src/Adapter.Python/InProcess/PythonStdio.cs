namespace Adapter;

/// <summary>
/// In-process mode's output capture: fd 1 and fd 2 of the host process become pipes that the host reads into its
/// log (<c>Python.stdout</c>, <c>Python.stderr</c>), so Python's own <c>sys.stdout</c> and <c>sys.stderr</c>, a C
/// extension's writes and faulthandler all reach the log, as in worker processes.
/// </summary>
/// <remarks>
/// fd 1 and fd 2 are also where .NET's console writes: <see cref="Console.Out"/> and <see cref="Console.Error"/> are
/// opened first, and .NET opens them over duplicates of the original descriptors, so the host's own console output
/// (its console logger, systemd's journal) still reaches the terminal and is never read back into the log. What
/// else writes to fd 1 or 2 by number from then on (a native library, a child process that inherits them) is
/// logged as Python's output.
/// </remarks>
internal static class PythonStdio
{
    private static bool s_captured;

    /// <summary>Puts the pipes in place, once per process; <paramref name="entry"/> gets each entry (level, name, text).</summary>
    public static void Capture(Action<int, string, string> entry)
    {
        if (s_captured)
        {
            return;
        }

        s_captured = true;

        // Opens them now, if nothing has yet: .NET opens each over a duplicate of fd 1 or 2 as it is at that moment.
        Console.Out.Flush();
        Console.Error.Flush();
        Redirect(1, 20, "stdout", entry);
        Redirect(2, 30, "stderr", entry);
    }

    private static void Redirect(int target, int level, string name, Action<int, string, string> entry)
    {
        var (read, write) = PosixPipe.Create();
        try
        {
            PosixPipe.Replace(write, target);
        }
        finally
        {
            PosixPipe.Close(write);
        }

        // Read for the rest of the process's life: fd 1 and 2 keep the pipe's write end open.
        _ = PythonOutputReader.Start(read, level, name, marked: false, entry);
    }
}

namespace Adapter;

/// <summary>
/// Lets a worker thread keep something other threads need (an in-process Python app's GIL) across the adapter's
/// work between two steps of the app, and let go of it the moment the adapter would wait: the thread registers what
/// lets go, and every place where the adapter blocks a worker calls <see cref="BeforeWait"/> first.
/// </summary>
internal static class GatewayBlocking
{
    [ThreadStatic]
    private static Action? t_letGo;

    /// <summary>Registers what the calling thread lets go of before its next wait (at most one; the last one counts).</summary>
    public static void LetGoBeforeWaiting(Action letGo) => t_letGo = letGo;

    /// <summary>Takes back what <see cref="LetGoBeforeWaiting"/> registered: the thread no longer holds it.</summary>
    public static void Clear() => t_letGo = null;

    /// <summary>Called right before the adapter blocks the calling thread: runs what it registered, once.</summary>
    public static void BeforeWait()
    {
        if (t_letGo is { } letGo)
        {
            t_letGo = null;
            letGo();
        }
    }
}

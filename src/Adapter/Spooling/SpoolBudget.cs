using Microsoft.Win32.SafeHandles;

namespace Adapter;

/// <summary>
/// The disk that one worker pool's spool files may take together (<see cref="GatewayOptions.SpoolDiskBudget"/>),
/// and where they are made. Bytes are reserved before they are written and given back when their file closes.
/// </summary>
internal sealed class SpoolBudget(long limit, string? directory)
{
    private long _used;
    private long _files;

    /// <summary>Bytes held in spool files now.</summary>
    public long Used => Volatile.Read(ref _used);

    /// <summary>Spool files open now.</summary>
    public long Files => Volatile.Read(ref _files);

    public bool TryReserve(long bytes)
    {
        if (Interlocked.Add(ref _used, bytes) <= limit)
        {
            return true;
        }

        Interlocked.Add(ref _used, -bytes);
        return false;
    }

    public void Release(long bytes) => Interlocked.Add(ref _used, -bytes);

    /// <summary>A new file with no name left on disk: nothing survives the process, a crash included.</summary>
    public SafeFileHandle Open()
    {
        var path = Path.Combine(directory ?? Path.GetTempPath(), $"adapter-spool-{Guid.NewGuid():N}");
        var windows = OperatingSystem.IsWindows();
        var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, windows ? FileOptions.DeleteOnClose : FileOptions.None);
        if (!windows)
        {
            try
            {
                File.Delete(path);
            }
            catch
            {
                handle.Dispose();
                throw;
            }
        }

        Interlocked.Increment(ref _files);
        return handle;
    }

    public void Closed() => Interlocked.Decrement(ref _files);
}

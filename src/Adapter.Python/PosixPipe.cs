using System.IO.Pipes;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Adapter;

/// <summary>
/// The few descriptor calls the output capture needs and .NET does not offer: a pipe whose write end a child
/// inherits while its read end does not, and <c>dup2</c> over the process's own fd 1 and 2.
/// </summary>
internal static partial class PosixPipe
{
    private const int CloseOnExec = 0x80000; // O_CLOEXEC on Linux
    private const int SetDescriptorFlags = 2; // F_SETFD

    /// <summary>
    /// A new pipe, both ends close-on-exec (no child inherits them by accident): its read end as a stream the
    /// host reads asynchronously, and its write end's descriptor, which the caller closes.
    /// </summary>
    public static (AnonymousPipeClientStream Read, int Write) Create()
    {
        Span<int> fds = stackalloc int[2];
        if (Pipe2(ref MemoryMarshal.GetReference(fds), CloseOnExec) != 0)
        {
            throw new IOException($"pipe2 failed (errno {Marshal.GetLastPInvokeError()}).");
        }

        return (new AnonymousPipeClientStream(PipeDirection.In, new SafePipeHandle(fds[0], ownsHandle: true)), fds[1]);
    }

    /// <summary>Lets a child process started after this call inherit <paramref name="fd"/>.</summary>
    public static void Inheritable(int fd)
    {
        if (Fcntl(fd, SetDescriptorFlags, 0) != 0)
        {
            throw new IOException($"fcntl(F_SETFD) failed (errno {Marshal.GetLastPInvokeError()}).");
        }
    }

    /// <summary>Makes <paramref name="target"/> (1 or 2) a copy of <paramref name="fd"/>; the copy is inherited by children, as stdio is.</summary>
    public static void Replace(int fd, int target)
    {
        if (Dup2(fd, target) < 0)
        {
            throw new IOException($"dup2 failed (errno {Marshal.GetLastPInvokeError()}).");
        }
    }

    /// <summary>Closes a descriptor this process no longer needs.</summary>
    public static void Close(int fd) => _ = CloseFd(fd);

    [LibraryImport("libc", EntryPoint = "pipe2", SetLastError = true)]
    private static partial int Pipe2(ref int fds, int flags);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "dup2", SetLastError = true)]
    private static partial int Dup2(int fd, int target);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int CloseFd(int fd);
}

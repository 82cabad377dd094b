using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Adapter.Cli;

/// <summary>
/// Looks at every bind before the apps load, so that an address Kestrel could not listen on is one <c>gateway: </c> line
/// and exit 1 before any worker process starts (gunicorn says one line too), and prepares unix sockets as gunicorn does:
/// a stale socket file (nothing listens on it, after a crash) is removed; a live one is an error.
/// </summary>
internal static partial class BindCheck
{
    /// <summary>Checks each bind, removing stale unix socket files.</summary>
    /// <exception cref="BindFailedException">A bind cannot be listened on.</exception>
    public static void Prepare(IEnumerable<BindAddress> binds)
    {
        foreach (var bind in binds)
        {
            if (bind.SocketPath is { } path)
            {
                PrepareSocketFile(bind, path);
            }
            else if (bind.Port != 0)
            {
                // Kestrel's localhost listens on IPv4 loopback and, where there is one, IPv6's: the first one decides.
                Probe(bind, new IPEndPoint(bind.Address ?? IPAddress.Loopback, bind.Port));
            }
        }
    }

    /// <summary>
    /// Binds unix sockets with mode <c>0777 &amp; ~umask</c>, as gunicorn does (its default umask is 0, so any local user,
    /// a proxy among them, may connect): sets the process's umask for the server's start and puts it back once listening.
    /// </summary>
    /// <returns>Puts the previous umask back; nothing to do when no bind is a unix socket.</returns>
    public static Action SocketUmask(IEnumerable<BindAddress> binds, int umask)
    {
        if (!OperatingSystem.IsLinux() || !binds.Any(static b => b.IsUnixSocket))
        {
            return static () => { };
        }

        var previous = SetUmask(umask);
        var restored = 0;
        return () =>
        {
            if (Interlocked.Exchange(ref restored, 1) == 0)
            {
                _ = SetUmask(previous);
            }
        };
    }

    private static void Probe(BindAddress bind, IPEndPoint endPoint)
    {
        using var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);

        // As Kestrel's listener: an address held only by connections closing (TIME_WAIT) is free; a listener's is not.
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        try
        {
            socket.Bind(endPoint);
        }
        catch (SocketException ex)
        {
            throw new BindFailedException($"cannot bind {bind.Text}: {Reason(ex)}");
        }
    }

    private static void PrepareSocketFile(BindAddress bind, string path)
    {
        if (!File.Exists(path))
        {
            return;
        }

        if (OperatingSystem.IsLinux() && !IsSocket(path))
        {
            throw new BindFailedException($"cannot bind {bind.Text}: '{path}' exists and is not a socket");
        }

        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                throw new BindFailedException($"cannot bind {bind.Text}: a server is listening on it already");
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
            {
                // Left behind by a server that ended without removing it: nothing listens, so it is stale.
            }
            catch (SocketException ex)
            {
                throw new BindFailedException($"cannot bind {bind.Text}: {Reason(ex)}");
            }
        }

        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new BindFailedException($"cannot bind {bind.Text}: cannot remove the stale socket file: {ex.Message}");
        }
    }

    /// <summary>True when <paramref name="path"/> is a socket (Linux's <c>statx</c>, whose layout is the same on every architecture).</summary>
    private static unsafe bool IsSocket(string path)
    {
        const int CurrentDirectory = -100, NoFollow = 0x100, TypeOnly = 1, ModeOffset = 28, FileType = 0xF000, Socket = 0xC000;
        var buffer = stackalloc byte[256];
        return StatX(CurrentDirectory, path, NoFollow, TypeOnly, buffer) == 0 && (*(ushort*)(buffer + ModeOffset) & FileType) == Socket;
    }

    private static string Reason(SocketException ex) => ex.SocketErrorCode switch
    {
        SocketError.AddressAlreadyInUse => "address already in use",
        SocketError.AccessDenied => "permission denied",
        SocketError.AddressNotAvailable => "no such address on this machine",
        _ => ex.Message,
    };

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int StatX(int directory, string path, int flags, int mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "umask")]
    private static partial int SetUmask(int mask);
}

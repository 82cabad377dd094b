using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Adapter.Cli;

/// <summary>One <c>--bind</c>: <c>HOST:PORT</c>, <c>HOST</c> (port 8000), <c>[IPv6]:PORT</c> or <c>unix:PATH</c>, as gunicorn takes them.</summary>
internal sealed record BindAddress(string Text, IPAddress? Address, int Port, string? SocketPath)
{
    /// <summary>gunicorn's default bind.</summary>
    public const string Default = "127.0.0.1:8000";

    private const int DefaultPort = 8000;

    /// <summary>True for <c>unix:PATH</c>.</summary>
    public bool IsUnixSocket => SocketPath is not null;

    /// <summary>Parses a bind; on failure <paramref name="error"/> says what is wrong with it.</summary>
    public static bool TryParse(string text, [NotNullWhen(true)] out BindAddress? bind, [NotNullWhen(false)] out string? error)
    {
        bind = null;
        error = null;
        if (text.StartsWith("unix:", StringComparison.Ordinal))
        {
            var path = text["unix:".Length..];
            if (path.Length == 0)
            {
                error = $"cannot bind '{text}': unix:PATH needs a path";
                return false;
            }

            bind = new BindAddress(text, null, 0, Path.GetFullPath(path));
            return true;
        }

        string host;
        string? port;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']');
            var rest = close < 0 ? "" : text[(close + 1)..];
            if (close < 0 || (rest.Length > 0 && !rest.StartsWith(':')))
            {
                error = $"cannot bind '{text}': an IPv6 address is written [ADDRESS]:PORT";
                return false;
            }

            host = text[1..close];
            port = rest.Length > 0 ? rest[1..] : null;
        }
        else
        {
            var colon = text.IndexOf(':');
            if (colon >= 0 && text.IndexOf(':', colon + 1) >= 0)
            {
                error = $"cannot bind '{text}': write an IPv6 address in brackets, [ADDRESS]:PORT";
                return false;
            }

            host = colon < 0 ? text : text[..colon];
            port = colon < 0 ? null : text[(colon + 1)..];
        }

        var number = DefaultPort;
        if (port is not null && (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out number) || number > IPEndPoint.MaxPort))
        {
            error = $"cannot bind '{text}': '{port}' is not a port number (0 to 65535)";
            return false;
        }

        IPAddress? address;
        if (host.Length == 0 || host == "*")
        {
            address = IPAddress.Any;
        }
        else if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            address = null;
        }
        else if (!IPAddress.TryParse(host, out address))
        {
            error = $"cannot bind '{text}': '{host}' is not an IP address or localhost";
            return false;
        }

        bind = new BindAddress(text, address, number, null);
        return true;
    }

    /// <summary>Adds this endpoint to Kestrel.</summary>
    public void Listen(KestrelServerOptions kestrel, Action<ListenOptions> configure)
    {
        if (SocketPath is not null)
        {
            kestrel.ListenUnixSocket(SocketPath, configure);
        }
        else if (Address is null)
        {
            kestrel.ListenLocalhost(Port, configure);
        }
        else
        {
            kestrel.Listen(Address, Port, configure);
        }
    }
}

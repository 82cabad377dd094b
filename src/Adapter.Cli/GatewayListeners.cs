using System.Net.Quic;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;

namespace Adapter.Cli;

/// <summary>Kestrel's endpoints from <c>--bind</c>, <c>--certfile</c> and <c>--keyfile</c>.</summary>
internal static class GatewayListeners
{
    /// <summary>
    /// The binds to listen on: the flags', else none when configuration names addresses itself (<c>urls</c>,
    /// <c>http_ports</c>, <c>Kestrel:Endpoints</c>, as container images set <c>ASPNETCORE_HTTP_PORTS</c>) and
    /// no certificate is given, else gunicorn's default <c>127.0.0.1:8000</c>.
    /// </summary>
    public static IReadOnlyList<BindAddress> Binds(GatewaySettings settings, IConfiguration configuration)
    {
        if (settings.Binds.Count > 0)
        {
            return settings.Binds;
        }

        var configured = configuration.GetSection("Kestrel:Endpoints").Exists()
            || !string.IsNullOrEmpty(configuration["urls"]) || !string.IsNullOrEmpty(configuration["http_ports"]) || !string.IsNullOrEmpty(configuration["https_ports"]);
        if (configured && settings.CertFile is null)
        {
            return [];
        }

        BindAddress.TryParse(BindAddress.Default, out var bind, out _);
        return [bind!];
    }

    /// <summary>Reads the PEM certificate and key.</summary>
    /// <exception cref="UsageException">Either file is missing or unreadable, or the key does not match.</exception>
    public static X509Certificate2 LoadCertificate(string certFile, string keyFile)
    {
        try
        {
            return X509Certificate2.CreateFromPemFile(certFile, keyFile);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new UsageException($"cannot use --certfile '{certFile}' with --keyfile '{keyFile}': {ex.Message}");
        }
    }

    /// <summary>Listens on every bind; with a certificate, HTTPS with HTTP/1.1 and HTTP/2 (and HTTP/3 where QUIC is available).</summary>
    public static void Listen(KestrelServerOptions kestrel, IReadOnlyList<BindAddress> binds, X509Certificate2? certificate)
    {
        foreach (var bind in binds)
        {
            bind.Listen(kestrel, listen =>
            {
                if (certificate is null)
                {
                    return;
                }

                listen.Protocols = !bind.IsUnixSocket && QuicAvailable() ? HttpProtocols.Http1AndHttp2AndHttp3 : HttpProtocols.Http1AndHttp2;
                listen.UseHttps(certificate);
            });
        }
    }

    /// <summary>HTTP/3 needs QUIC (libmsquic on Linux); without it Kestrel would only warn, so it is not asked for.</summary>
    private static bool QuicAvailable() =>
        (OperatingSystem.IsLinux() || OperatingSystem.IsWindows() || OperatingSystem.IsMacOS()) && QuicListener.IsSupported;
}

using System.Diagnostics.CodeAnalysis;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.HttpOverrides;
using IPNetwork = System.Net.IPNetwork;

namespace Adapter.Cli;

/// <summary>
/// <c>--forwarded-allow-ips</c>: the proxies whose <c>X-Forwarded-For</c>, <c>-Proto</c> and <c>-Host</c> are believed,
/// as addresses and CIDR networks, or <c>*</c> for any.
/// </summary>
internal sealed record ForwardedProxies(IReadOnlyList<IPAddress> Proxies, IReadOnlyList<IPNetwork> Networks)
{
    /// <summary>Parses a comma-separated list; on failure <paramref name="error"/> names the bad entry.</summary>
    public static bool TryParse(string text, [NotNullWhen(true)] out ForwardedProxies? proxies, [NotNullWhen(false)] out string? error)
    {
        proxies = null;
        error = null;
        var addresses = new List<IPAddress>();
        var networks = new List<IPNetwork>();
        foreach (var entry in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (entry == "*")
            {
                networks.Add(IPNetwork.Parse("0.0.0.0/0"));
                networks.Add(IPNetwork.Parse("::/0"));
            }
            else if (entry.Contains('/') && IPNetwork.TryParse(entry, out var network))
            {
                networks.Add(network);
            }
            else if (IPAddress.TryParse(entry, out var address))
            {
                addresses.Add(address);
            }
            else
            {
                error = $"--forwarded-allow-ips: '{entry}' is not an IP address, a network (10.0.0.0/8) or *";
                return false;
            }
        }

        if (addresses.Count == 0 && networks.Count == 0)
        {
            error = "--forwarded-allow-ips needs at least one address, network or *";
            return false;
        }

        proxies = new ForwardedProxies(addresses, networks);
        return true;
    }

    /// <summary>Trusts exactly these proxies (not ASP.NET Core's loopback defaults) for the client's address, scheme and host.</summary>
    public void Configure(ForwardedHeadersOptions options)
    {
        options.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto | ForwardedHeaders.XForwardedHost;
        options.KnownProxies.Clear();
        options.KnownIPNetworks.Clear();
        foreach (var proxy in Proxies)
        {
            options.KnownProxies.Add(proxy);
        }

        foreach (var network in Networks)
        {
            options.KnownIPNetworks.Add(network);
        }
    }
}

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Adapter;

/// <summary>Mounts the Python apps named in configuration.</summary>
public static class PythonGatewayEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Loads and maps every app of <see cref="PythonGatewayOptions.Apps"/> (the <c>PythonGateway:Apps</c> section:
    /// prefix → <c>module:callable</c>) with <c>MapGatewayApp</c>, so a host needs no code per app.
    /// </summary>
    /// <param name="endpoints">The endpoint route builder (the <c>WebApplication</c>).</param>
    /// <returns>A builder whose conventions (such as <c>RequireAuthorization()</c>) apply to every mounted app.</returns>
    /// <exception cref="InvalidOperationException">An app failed to load; the message names it, with Python's traceback.</exception>
    public static IEndpointConventionBuilder MapPythonApps(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var services = endpoints.ServiceProvider;
        var gateway = services.GetRequiredService<PythonGateway>();
        var apps = services.GetRequiredService<IOptions<PythonGatewayOptions>>().Value.Apps;
        var mounted = new List<IEndpointConventionBuilder>(apps.Count);

        // Longest prefix first only for readability of the endpoint list: routing matches on specificity anyway.
        foreach (var (prefix, target) in apps.OrderByDescending(static a => a.Key.Length))
        {
            mounted.Add(endpoints.MapGatewayApp(prefix, gateway.Load(target)));
        }

        return new PythonAppsConventionBuilder(mounted);
    }

    /// <summary>Applies each convention to every mounted app.</summary>
    private sealed class PythonAppsConventionBuilder(List<IEndpointConventionBuilder> builders) : IEndpointConventionBuilder
    {
        public void Add(Action<EndpointBuilder> convention)
        {
            foreach (var builder in builders)
            {
                builder.Add(convention);
            }
        }

        public void Finally(Action<EndpointBuilder> finallyConvention)
        {
            foreach (var builder in builders)
            {
                builder.Finally(finallyConvention);
            }
        }
    }
}

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Adapter;

/// <summary>Maps a gateway app into endpoint routing, so authorization, CORS and other endpoint metadata apply.</summary>
public static class GatewayEndpointRouteBuilderExtensions
{
    private const string RestParameter = "gatewayPathInfo";

    /// <summary>
    /// Maps <paramref name="gatewayApp"/> at <paramref name="pattern"/> and everything below it. The matched prefix
    /// is SCRIPT_NAME and the rest PATH_INFO.
    /// </summary>
    /// <param name="endpoints">The endpoint route builder.</param>
    /// <param name="pattern">The mount point, such as <c>"/legacy"</c>; it may hold route parameters.</param>
    /// <param name="gatewayApp">The gateway app.</param>
    /// <returns>A builder for conventions such as <c>RequireAuthorization()</c>.</returns>
    public static IEndpointConventionBuilder MapGatewayApp(this IEndpointRouteBuilder endpoints, string pattern, GatewayApp gatewayApp)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(gatewayApp);
        var handler = GatewayWorkerPoolResolver.CreateHandler(endpoints.ServiceProvider, gatewayApp);
        var prefix = pattern.TrimEnd('/');
        return endpoints
            .Map($"{prefix}/{{**{RestParameter}}}", context => handler.InvokeAsync(context, MountSegments(context)))
            .WithDisplayName($"Gateway app {(prefix.Length == 0 ? "/" : prefix)}");
    }

    /// <summary>How many leading segments of the request path the pattern matched.</summary>
    private static int MountSegments(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        var rest = context.Request.RouteValues[RestParameter] as string ?? "";
        var prefix = path.AsSpan(0, Math.Max(0, path.Length - rest.Length)).TrimEnd('/');
        return prefix.Count('/');
    }
}

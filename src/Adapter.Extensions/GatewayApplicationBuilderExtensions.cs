using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Adapter;

/// <summary>Runs a gateway app as terminal middleware.</summary>
public static class GatewayApplicationBuilderExtensions
{
    /// <summary>
    /// Runs <paramref name="gatewayApp"/> for every request that reaches this point, like <c>app.Run</c>.
    /// A request that endpoint routing already matched to an endpoint (<c>MapGet</c>, controllers…) goes on to
    /// that endpoint, so new routes can replace the gateway app one at a time.
    /// </summary>
    /// <param name="app">The application builder.</param>
    /// <param name="gatewayApp">The gateway app.</param>
    /// <returns>The application builder.</returns>
    public static IApplicationBuilder UseGatewayApp(this IApplicationBuilder app, GatewayApp gatewayApp)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(gatewayApp);
        var handler = GatewayWorkerPoolResolver.CreateHandler(app.ApplicationServices, gatewayApp);
        return app.Use(next => context => HasEndpoint(context) ? next(context) : handler.InvokeAsync(context));
    }

    /// <summary>
    /// Runs <paramref name="gatewayApp"/> for requests under <paramref name="pathMatch"/>; the app sees the prefix
    /// as SCRIPT_NAME and the rest as PATH_INFO. Other requests go on down the pipeline.
    /// </summary>
    /// <param name="app">The application builder.</param>
    /// <param name="pathMatch">The mount point, such as <c>"/legacy"</c>.</param>
    /// <param name="gatewayApp">The gateway app.</param>
    /// <returns>The application builder.</returns>
    public static IApplicationBuilder UseGatewayApp(this IApplicationBuilder app, PathString pathMatch, GatewayApp gatewayApp)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(gatewayApp);
        var mount = pathMatch.Value is { Length: > 1 } value && value.EndsWith('/') ? new PathString(value.TrimEnd('/')) : pathMatch;
        if (!mount.HasValue || mount.Value == "/")
        {
            return app.UseGatewayApp(gatewayApp);
        }

        var handler = GatewayWorkerPoolResolver.CreateHandler(app.ApplicationServices, gatewayApp);
        return app.Use(next => context =>
            !HasEndpoint(context) && context.Request.Path.StartsWithSegments(mount, out var matched, out var remaining)
                ? InvokeMountedAsync(handler, context, matched, remaining)
                : next(context));
    }

    private static bool HasEndpoint(HttpContext context) => context.GetEndpoint()?.RequestDelegate is not null;

    private static async Task InvokeMountedAsync(GatewayHandler handler, HttpContext context, PathString matched, PathString remaining)
    {
        var request = context.Request;
        var (pathBase, path) = (request.PathBase, request.Path);
        request.PathBase = pathBase.Add(matched);
        request.Path = remaining;
        try
        {
            await handler.InvokeAsync(context).ConfigureAwait(false);
        }
        finally
        {
            request.PathBase = pathBase;
            request.Path = path;
        }
    }
}

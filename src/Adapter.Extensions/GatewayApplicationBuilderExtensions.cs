using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Adapter;

/// <summary>Runs a gateway app as terminal middleware.</summary>
public static class GatewayApplicationBuilderExtensions
{
    /// <summary>Runs <paramref name="gatewayApp"/> for every request that reaches this point, like <c>app.Run</c>.</summary>
    /// <param name="app">The application builder.</param>
    /// <param name="gatewayApp">The gateway app.</param>
    /// <returns>The application builder.</returns>
    public static IApplicationBuilder UseGatewayApp(this IApplicationBuilder app, GatewayApp gatewayApp)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(gatewayApp);
        var handler = new GatewayHandler(gatewayApp, GatewayWorkerPoolResolver.Resolve(app.ApplicationServices));
        app.Run(context => handler.InvokeAsync(context));
        return app;
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

        return app.Map(mount, branch => branch.UseGatewayApp(gatewayApp));
    }
}

using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Adapter;

/// <summary>Registers the gateway adapter's services.</summary>
public static class GatewayServiceCollectionExtensions
{
    /// <summary>The configuration section <see cref="GatewayOptions"/> is bound from.</summary>
    public const string ConfigurationSection = "Gateway";

    /// <summary>
    /// Adds the gateway worker pool and binds <see cref="GatewayOptions"/> from the <c>Gateway</c> configuration
    /// section; invalid options fail at start-up. Optional: <c>UseGatewayApp</c> works with defaults without it.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Changes applied after configuration binding.</param>
    /// <returns>The service collection, for chaining.</returns>
    public static IServiceCollection AddGateway(this IServiceCollection services, Action<GatewayOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<GatewayOptions>().BindConfiguration(ConfigurationSection);
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GatewayOptions>, GatewayOptionsValidator>());
        services.TryAddSingleton(static provider => new GatewayWorkerPool(
            provider.GetRequiredService<IOptions<GatewayOptions>>().Value,
            provider.GetRequiredService<ILoggerFactory>(),
            provider.GetService<IHostApplicationLifetime>(),
            provider.GetService<IMeterFactory>(),
            shutdownTimeout: provider.GetService<IOptions<HostOptions>>()?.Value.ShutdownTimeout));
        return services;
    }
}

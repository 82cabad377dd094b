using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Adapter;

/// <summary>Registers the Python bridge.</summary>
public static class PythonGatewayServiceCollectionExtensions
{
    /// <summary>The configuration section <see cref="PythonGatewayOptions"/> is bound from.</summary>
    public const string ConfigurationSection = "PythonGateway";

    /// <summary>
    /// Adds <see cref="PythonGateway"/> (worker processes by default, or one CPython in the host; started when the
    /// gateway is first resolved), reloading on SIGHUP and, in Development, on a changed <c>.py</c> file, and
    /// the gateway adapter's services (<c>AddGateway</c>), binding <see cref="PythonGatewayOptions"/> from the
    /// <c>PythonGateway</c> configuration section.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Changes applied after configuration binding, such as <c>o =&gt; o.Paths.Add("pyapps")</c>.</param>
    /// <returns>The service collection, for chaining.</returns>
    public static IServiceCollection AddPythonGateway(this IServiceCollection services, Action<PythonGatewayOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddGateway();
        var options = services.AddOptions<PythonGatewayOptions>().BindConfiguration(ConfigurationSection);
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddSingleton<PythonGateway>();
        services.AddHostedService<PythonGatewayReloadService>();
        if (!services.Any(static d => d.ServiceType == typeof(PythonGatewayHealthCheck)))
        {
            // Reported by app.MapHealthChecks("/healthz"): workers ready, or the interpreter running.
            services.AddSingleton<PythonGatewayHealthCheck>();
            services.AddHealthChecks().AddCheck<PythonGatewayHealthCheck>(PythonGatewayHealthCheck.Name);
        }
        return services;
    }
}

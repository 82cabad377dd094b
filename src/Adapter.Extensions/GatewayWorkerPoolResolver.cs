using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Adapter;

/// <summary>Finds the worker pool for an application: the one <c>AddGateway</c> registered, else one with defaults per host.</summary>
internal static class GatewayWorkerPoolResolver
{
    private static readonly ConditionalWeakTable<IServiceProvider, GatewayWorkerPool> Fallbacks = [];

    /// <summary>A handler for <paramref name="app"/> on its own pool when it has one, else on the host's worker pool.</summary>
    public static GatewayHandler CreateHandler(IServiceProvider services, GatewayApp app) =>
        new(app, app.Target is IGatewayWorkerPoolOwner owner ? owner.Pool : Resolve(services));

    public static GatewayWorkerPool Resolve(IServiceProvider services) =>
        services.GetService<GatewayWorkerPool>() ?? Fallbacks.GetValue(services, static provider =>
        {
            var options = provider.GetService<IOptions<GatewayOptions>>()?.Value ?? new GatewayOptions();
            var result = new GatewayOptionsValidator().Validate(null, options);
            if (result.Failed)
            {
                throw new OptionsValidationException(Options.DefaultName, typeof(GatewayOptions), result.Failures);
            }

            return new GatewayWorkerPool(
                options,
                provider.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance,
                provider.GetService<IHostApplicationLifetime>(),
                provider.GetService<IMeterFactory>(),
                shutdownTimeout: provider.GetService<IOptions<HostOptions>>()?.Value.ShutdownTimeout);
        });
}

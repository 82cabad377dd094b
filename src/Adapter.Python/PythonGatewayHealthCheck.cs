using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Adapter;

/// <summary>
/// The <c>python</c> health check <c>AddPythonGateway</c> registers: healthy while worker processes are ready (degraded
/// when some are being replaced), unhealthy when none is; healthy in-process while CPython runs.
/// </summary>
internal sealed class PythonGatewayHealthCheck(PythonGateway gateway) : IHealthCheck
{
    public const string Name = "python";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var (healthy, degraded, description) = gateway.Health();
        return Task.FromResult(!healthy
            ? new HealthCheckResult(context.Registration.FailureStatus, description)
            : degraded ? HealthCheckResult.Degraded(description) : HealthCheckResult.Healthy(description));
    }
}

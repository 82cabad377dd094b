using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Adapter;

/// <summary>
/// The <c>python</c> health check <c>AddPythonGateway</c> registers: unhealthy when no thread (in-process) or no worker
/// process can take a request, degraded when some are stuck in an app past the request timeout (or worker processes
/// are being replaced), healthy otherwise.
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

using Microsoft.Extensions.Options;

namespace Adapter;

/// <summary>Refuses nonsense options at start-up, with a message that names the setting.</summary>
internal sealed class GatewayOptionsValidator : IValidateOptions<GatewayOptions>
{
    public const int MaxWorkerThreads = 4096;

    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        List<string>? failures = null;
        if (options.WorkerThreads is < 1 or > MaxWorkerThreads)
        {
            (failures ??= []).Add($"Gateway:WorkerThreads must be between 1 and {MaxWorkerThreads}; it is {options.WorkerThreads}.");
        }

        if (options.QueueLimit < 0)
        {
            (failures ??= []).Add($"Gateway:QueueLimit must be 0 or more; it is {options.QueueLimit}.");
        }

        if (options.RequestTimeout <= TimeSpan.Zero && options.RequestTimeout != Timeout.InfiniteTimeSpan)
        {
            (failures ??= []).Add($"Gateway:RequestTimeout must be positive or Timeout.InfiniteTimeSpan; it is {options.RequestTimeout}.");
        }

        return failures is null ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

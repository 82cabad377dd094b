using Microsoft.Extensions.Options;

namespace Adapter;

/// <summary>Refuses nonsense options at start-up, with a message that names the setting.</summary>
internal sealed class GatewayOptionsValidator : IValidateOptions<GatewayOptions>
{
    public const int MaxWorkerThreads = 4096;

    /// <summary>The largest per-request buffer accepted: 64 MiB.</summary>
    public const int MaxBufferSize = 64 * 1024 * 1024;

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

        if (options.ResponseBufferSize is < 0 or > MaxBufferSize)
        {
            (failures ??= []).Add($"Gateway:ResponseBufferSize must be between 0 and {MaxBufferSize}; it is {options.ResponseBufferSize}.");
        }

        if (options.RequestBufferSize is < 0 or > MaxBufferSize)
        {
            (failures ??= []).Add($"Gateway:RequestBufferSize must be between 0 and {MaxBufferSize}; it is {options.RequestBufferSize}.");
        }

        if (options.ResponseSpoolLimit < 0 || options.RequestSpoolLimit < 0 || options.SpoolDiskBudget < 0)
        {
            (failures ??= []).Add(
                $"Gateway:ResponseSpoolLimit, Gateway:RequestSpoolLimit and Gateway:SpoolDiskBudget must be 0 or more; they are {options.ResponseSpoolLimit}, {options.RequestSpoolLimit} and {options.SpoolDiskBudget}.");
        }

        if (options.ClientTimeout <= TimeSpan.Zero && options.ClientTimeout != Timeout.InfiniteTimeSpan)
        {
            (failures ??= []).Add($"Gateway:ClientTimeout must be positive or Timeout.InfiniteTimeSpan; it is {options.ClientTimeout}.");
        }

        return failures is null ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

namespace Adapter.Tests.Python;

/// <summary>In-process Python logs to the gateway started last; once that host has stopped, another still serving keeps working.</summary>
/// <remarks>Alone: a host started in parallel by another test would take the log over, and the stopped host's factory would never be reached.</remarks>
[Collection(nameof(TimingSensitive))]
public sealed class PythonLogOwnerTests
{
    [PythonFact]
    public async Task Python_logging_after_the_log_owning_host_stopped_does_not_fail_a_request()
    {
        await using var serving = await PythonHost.StartAsync("fidelity_apps:logging_app");
        var later = await PythonHost.StartAsync("validated_app:app");
        await later.DisposeAsync();

        // logging, print() and sys.stderr: each reaches the stopped host's disposed logger factory.
        Assert.Equal("logged", await serving.Client.GetStringAsync("/"));
    }
}

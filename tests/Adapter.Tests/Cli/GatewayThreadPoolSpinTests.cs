using Adapter.Tests.Python;
using Microsoft.Extensions.Logging;

namespace Adapter.Tests.Cli;

/// <summary>
/// The .NET thread pool's spin by mode: the package's runtimeconfig turns it off (right for worker processes), and the
/// in-process gateway, built before the pool starts, gives .NET's default back (bench/README.md, issue 21) unless the
/// spin was chosen explicitly.
/// </summary>
public sealed class GatewayThreadPoolSpinTests
{
    private const string SpinLine = "In-process: the .NET thread pool's spin limit, read when the pool starts, is ";

    [PythonTheory]
    [InlineData("0", null, "unset, the runtime's default")]
    [InlineData("1", null, null)]
    [InlineData("0", "0", null)]
    public async Task In_process_gives_the_thread_pool_its_spin_back_unless_chosen(string workers, string? variable, string? expected)
    {
        var port = GatewayProcess.FreePort();
        var environment = new Dictionary<string, string?> { ["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"] = variable };
        await using var gateway = GatewayProcess.StartWithEnvironment(environment, "validated_app:app", "-w", workers, "--log-level", "debug", "-b", $"127.0.0.1:{port}");
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TestHost.Wait };
        await gateway.WaitUntilAnsweringAsync(client, "/");
        gateway.Signal(GatewayProcess.SigTerm);
        Assert.True(await gateway.WaitForExitAsync(TestHost.Wait) == 0, gateway.Transcript);

        var lines = gateway.Error.Concat(gateway.Output).Where(static line => line.Contains(SpinLine, StringComparison.Ordinal)).ToArray();
        if (expected is null)
        {
            Assert.True(lines.Length == 0, gateway.Transcript);
        }
        else
        {
            Assert.True(lines.Length == 1 && lines[0].Contains(SpinLine + expected, StringComparison.Ordinal), gateway.Transcript);
        }
    }

    [Fact]
    public void A_thread_pool_that_has_started_keeps_the_package_setting_and_says_so()
    {
        // This test process's pool runs already (xunit queued work to it): too late, as in a host that starts the pool first.
        Assert.True(ThreadPool.ThreadCount > 0);
        var before = AppContext.GetData(PythonThreadPoolSpin.SpinLimitSetting);
        var sink = new LogSink();
        AppContext.SetData(PythonThreadPoolSpin.SpinLimitSetting, 0);
        AppContext.SetSwitch(PythonThreadPoolSpin.ByModeSwitch, true);
        try
        {
            PythonThreadPoolSpin.UseDefaultForInProcess(sink.CreateLogger("Adapter.Python"));

            Assert.Equal(0, AppContext.GetData(PythonThreadPoolSpin.SpinLimitSetting));
            var entry = Assert.Single(sink.Entries);
            Assert.Equal((LogLevel.Information, 119), (entry.Level, entry.EventId.Id));
        }
        finally
        {
            AppContext.SetSwitch(PythonThreadPoolSpin.ByModeSwitch, false);
            AppContext.SetData(PythonThreadPoolSpin.SpinLimitSetting, before);
        }
    }
}

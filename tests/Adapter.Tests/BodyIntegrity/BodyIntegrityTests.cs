using Adapter.Tests.Python;
using Xunit.Abstractions;

namespace Adapter.Tests.BodyIntegrity;

/// <summary>
/// Numbered chunks (1 B to 256 KiB) through the iterable and through write(), from C# and through the Python
/// bridge (in-process, and through a worker process's pipe), read by a jittery slow client over real Kestrel: every download must come back byte for byte.
/// <c>tests/body-integrity.sh ROUNDS</c> runs the same tests for many rounds (BODY_INTEGRITY_ROUNDS).
/// </summary>
[Collection(nameof(BodyIntegrityTests))]
public sealed class BodyIntegrityTests(ITestOutputHelper output)
{
    private const long Total = 5_000_000;

    private static int Rounds => int.TryParse(Environment.GetEnvironmentVariable("BODY_INTEGRITY_ROUNDS"), out var rounds) ? rounds : 4;

    [Theory]
    [InlineData("iterable", Buffering.Memory)]
    [InlineData("write", Buffering.Memory)]
    [InlineData("iterable", Buffering.Spool)]
    [InlineData("write", Buffering.Spool)]
    public async Task Csharp_body_survives_a_jittery_slow_reader(string mode, Buffering buffering)
    {
        await using var host = await TestHost.StartAsync(NumberedBody.App, Options(buffering));
        await DownloadAsync(host, $"C# {mode}{Name(buffering)}", mode);
    }

    [PythonTheory]
    [InlineData("iterable", 0, Buffering.Memory)]
    [InlineData("write", 0, Buffering.Memory)]
    [InlineData("iterable", 1, Buffering.Memory)]
    [InlineData("write", 1, Buffering.Memory)]
    [InlineData("iterable", 0, Buffering.Spool)]
    [InlineData("write", 1, Buffering.Spool)]
    public async Task Python_body_survives_a_jittery_slow_reader(string mode, int processes, Buffering buffering)
    {
        await using var host = await PythonHost.StartAsync(
            static (app, python) => app.UseGatewayApp(python.Load("bridge_apps:numbered_app")),
            PythonHost.Mode(processes),
            Options(buffering));
        await DownloadAsync(host, $"Python {(processes == 0 ? "in-process" : "worker process")} {mode}{Name(buffering)}", mode);
    }

    /// <summary>
    /// How a slow reader is absorbed: in memory only (spooling off, the app held back), or with a 16 KiB buffer so
    /// that most of the body goes through the spool file.
    /// </summary>
    public enum Buffering
    {
        Memory,
        Spool,
    }

    private static Action<GatewayOptions> Options(Buffering buffering) => buffering == Buffering.Memory
        ? static o => o.ResponseSpoolLimit = 0
        : static o => o.ResponseBufferSize = 16 * 1024;

    private static string Name(Buffering buffering) => buffering == Buffering.Memory ? "" : " spooled";

    /// <summary>What each worker of the host's pools is doing, to tell a stalled writer from a stalled app.</summary>
    private static string ServerState(TestHost host)
    {
        var pools = new List<GatewayWorkerPool>();
        if (host.Services.GetService(typeof(GatewayWorkerPool)) is GatewayWorkerPool own)
        {
            pools.Add(own);
        }

        if (host.Services.GetService(typeof(PythonGateway)) is PythonGateway python
            && typeof(PythonGateway).GetField("_pool", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)?.GetValue(python) is GatewayWorkerPool pythonPool)
        {
            pools.Add(pythonPool);
        }

        return string.Join("; ", pools.SelectMany(static p => p.Workers()).Select(static w =>
            $"{w.Name} [{w.Thread?.ThreadState}] {(w.Current is { } e ? e.Response.DescribeBody() : "no request")}"));
    }

    private async Task DownloadAsync(TestHost host, string name, string mode)
    {
        var bad = new List<string>();
        for (var round = 1; round <= Rounds; round++)
        {
            var logged = host.Logs.Entries.Count;
            var expected = new NumberedBody(round, Total).Expected();
            var problem = await JitteryClient.CheckAsync(host.Port, $"/?seed={round}&total={Total}&mode={mode}", expected, round, TestHost.Wait);
            if (problem is not null)
            {
                var since = host.Logs.Entries.Skip(logged).Where(static e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Information || e.Category.StartsWith("Adapter", StringComparison.Ordinal))
                    .Select(static e => $"{e.Level} {e.Category}[{e.EventId.Id}] {e.Message} {e.Exception?.GetType().Name} {e.Exception?.Message}");
                bad.Add($"round {round}: {problem}; server: {ServerState(host)}; logged: {string.Join(" | ", since)}");
            }
        }

        output.WriteLine($"body-integrity {name}: {bad.Count} bad of {Rounds} downloads");
        Assert.True(bad.Count == 0, $"{name}: {bad.Count} bad of {Rounds} downloads:\n" + string.Join("\n", bad.Take(10)));
        Assert.DoesNotContain(host.Logs.Entries, static e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning && e.Category.StartsWith("Adapter", StringComparison.Ordinal));
    }
}

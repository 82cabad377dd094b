using Adapter.Tests.Python;

namespace Adapter.Tests.Cli;

/// <summary>
/// Issue 19, items 2 and 3: the <c>gateway</c> command takes gunicorn's signals. USR1 (logrotate's postrotate) reopens the
/// access log file, USR2 and WINCH are logged and ignored, none of them ends the server; TTIN and TTOU add and remove one
/// worker process; SIGHUP reloads also when the command was started with SIGHUP ignored, as <c>nohup</c> starts it.
/// </summary>
public sealed class GatewaySignalTests
{
    [PythonFact]
    public async Task Usr1_reopens_the_access_log_and_usr1_usr2_and_winch_leave_the_server_serving()
    {
        var port = GatewayProcess.FreePort();
        var log = Path.Combine(Path.GetTempPath(), $"adapter-cli-access-{Guid.NewGuid():N}.log");
        try
        {
            await using var gateway = GatewayProcess.Start(
                "cli_apps:pid_app", "--workers", "1", "-b", $"127.0.0.1:{port}", "--access-logfile", log, "--log-level", "debug");
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TestHost.Wait };
            await gateway.WaitUntilAnsweringAsync(client, "/ready");
            await client.GetStringAsync("/first");

            // logrotate moves the file away, then signals; the next lines go to a new file at the same path.
            File.Move(log, log + ".1");
            gateway.Signal(GatewayProcess.SigUsr1);
            await WaitForLineAsync(gateway, "SIGUSR1: reopened 1 log file(s).");
            await client.GetStringAsync("/second");
            Assert.Contains("\"GET /first HTTP/1.1\" 200", await File.ReadAllTextAsync(log + ".1"), StringComparison.Ordinal);

            // The access line is written as the request ends, which may be a moment after the client has its response.
            var fresh = "";
            var deadline = DateTime.UtcNow + TestHost.Wait;
            while (!(fresh = File.Exists(log) ? await File.ReadAllTextAsync(log) : "").Contains("\"GET /second HTTP/1.1\" 200", StringComparison.Ordinal)
                && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }

            Assert.Contains("\"GET /second HTTP/1.1\" 200", fresh, StringComparison.Ordinal);
            Assert.DoesNotContain("/first", fresh, StringComparison.Ordinal);

            gateway.Signal(GatewayProcess.SigUsr2);
            await WaitForLineAsync(gateway, "SIGUSR2 ignored");
            gateway.Signal(GatewayProcess.SigWinch);
            await WaitForLineAsync(gateway, "SIGWINCH ignored");

            Assert.True(gateway.IsRunning, gateway.Transcript);
            Assert.NotEmpty(await client.GetStringAsync("/after"));
            gateway.Signal(GatewayProcess.SigTerm);
            var code = await gateway.WaitForExitAsync(TestHost.Wait);
            Assert.True(code == 0, $"Exit code {code}:\n{gateway.Transcript}");
        }
        finally
        {
            File.Delete(log);
            File.Delete(log + ".1");
        }
    }

    [PythonFact]
    public async Task Ttin_adds_a_worker_process_and_ttou_removes_one()
    {
        var port = GatewayProcess.FreePort();
        await using var gateway = GatewayProcess.Start("cli_apps:pid_app", "--workers", "2", "-b", $"127.0.0.1:{port}");
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TestHost.Wait };
        await gateway.WaitUntilAnsweringAsync(client, "/");
        var two = await WaitForWorkersAsync(gateway, static pids => pids.Length == 2, "two workers");

        gateway.Signal(GatewayProcess.SigTtin);
        var three = await WaitForWorkersAsync(gateway, pids => pids.Length == 3 && two.All(pids.Contains), "a third worker beside the first two");
        await WaitForLineAsync(gateway, "SIGTTIN: the Python worker processes' target count is now 3.");

        gateway.Signal(GatewayProcess.SigTtou);
        var back = await WaitForWorkersAsync(gateway, pids => pids.Length == 2 && pids.All(three.Contains), "two of the three workers left");
        await WaitForLineAsync(gateway, "SIGTTOU: the Python worker processes' target count is now 2.");

        // The two left serve.
        var served = new HashSet<string>();
        for (var i = 0; i < 20 && served.Count < 2; i++)
        {
            served.Add(await client.GetStringAsync("/"));
        }

        Assert.All(served, pid => Assert.Contains(int.Parse(pid, System.Globalization.CultureInfo.InvariantCulture), back));
        Assert.True(gateway.IsRunning, gateway.Transcript);
    }

    [PythonFact]
    public async Task Sighup_reloads_the_workers_when_started_with_sighup_ignored_as_under_nohup()
    {
        var port = GatewayProcess.FreePort();
        await using var gateway = GatewayProcess.StartIgnoringHangUp("cli_apps:pid_app", "--workers", "2", "-b", $"127.0.0.1:{port}");
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TestHost.Wait };
        await gateway.WaitUntilAnsweringAsync(client, "/");
        var old = await WaitForWorkersAsync(gateway, static pids => pids.Length == 2, "two workers");

        gateway.Signal(GatewayProcess.SigHup);
        var fresh = await WaitForWorkersAsync(gateway, pids => pids.Length == 2 && !pids.Intersect(old).Any(), "two new workers, the old ones gone");
        await WaitForLineAsync(gateway, "Reload requested (SIGHUP).");

        var pid = int.Parse(await client.GetStringAsync("/"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains(pid, fresh);
        Assert.True(gateway.IsRunning, gateway.Transcript);
    }

    /// <summary>Polls the gateway's child processes (its Python workers) until <paramref name="done"/> holds for them.</summary>
    internal static async Task<int[]> WaitForWorkersAsync(GatewayProcess gateway, Func<int[], bool> done, string what)
    {
        var deadline = DateTime.UtcNow + TestHost.Wait;
        while (true)
        {
            var pids = ProcessTable.ChildrenOf(gateway.Id).Order().ToArray();
            if (done(pids))
            {
                return pids;
            }

            Assert.True(gateway.IsRunning, $"The gateway exited:\n{gateway.Transcript}");
            Assert.True(DateTime.UtcNow < deadline, $"Not {what} within {TestHost.Wait} (workers: {string.Join(", ", pids)}):\n{gateway.Transcript}");
            await Task.Delay(50);
        }
    }

    /// <summary>Waits for a line on the gateway's standard error (its log) that contains <paramref name="text"/>.</summary>
    internal static async Task WaitForLineAsync(GatewayProcess gateway, string text)
    {
        var deadline = DateTime.UtcNow + TestHost.Wait;
        while (!gateway.Error.Any(l => l.Contains(text, StringComparison.Ordinal)))
        {
            Assert.True(gateway.IsRunning, $"The gateway exited:\n{gateway.Transcript}");
            Assert.True(DateTime.UtcNow < deadline, $"No log line with '{text}' within {TestHost.Wait}:\n{gateway.Transcript}");
            await Task.Delay(20);
        }
    }
}

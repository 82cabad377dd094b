using System.Net;
using Adapter.Tests.Python;

namespace Adapter.Tests.Cli;

/// <summary>gunicorn's ways of being configured: a Python config file (<c>-c</c>), and <c>--threads</c> with worker processes.</summary>
public sealed class GatewayGunicornConfigTests
{
    [PythonFact]
    public async Task A_gunicorn_config_file_sets_bind_workers_threads_and_timeout_and_lists_what_it_ignores()
    {
        var port = GatewayProcess.FreePort();
        var file = Path.Combine(Directory.CreateTempSubdirectory("adapter-gunicorn-conf-").FullName, "gunicorn.conf.py");
        await File.WriteAllTextAsync(file, $"""
            import multiprocessing

            bind = ["127.0.0.1:{port}"]
            workers = 1
            threads = 4
            timeout = 1
            wsgi_app = "interp_apps:barrier_app"
            worker_connections = 1000

            def on_starting(server):
                pass
            """);
        try
        {
            await using var gateway = GatewayProcess.Start("-c", file);
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TestHost.Wait };
            await gateway.WaitUntilAnsweringAsync(client, "/?n=1");

            // threads = 4 in the one worker process (workers = 1): four requests are inside the app at once.
            var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => client.GetStringAsync("/?n=4")));
            Assert.All(answers, a => Assert.StartsWith("together ", a, StringComparison.Ordinal));
            Assert.Single(answers.Select(static a => a.Split(' ')[1]).Distinct());
            Assert.Single(ProcessTable.ChildrenOf(gateway.Id));

            // timeout = 1: an app silent for longer (waiting for 99 requests that never come) is answered 504.
            using var slow = await client.GetAsync("/?n=99");
            Assert.Equal(HttpStatusCode.GatewayTimeout, slow.StatusCode);

            var warning = Assert.Single(gateway.Error, l => l.Contains("worker_connections", StringComparison.Ordinal));
            Assert.Contains("on_starting", warning, StringComparison.Ordinal);
            Assert.DoesNotContain("multiprocessing", warning, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
        }
    }

    [PythonFact]
    public async Task Threads_with_one_worker_process_serve_four_requests_at_once()
    {
        var port = GatewayProcess.FreePort();
        await using var gateway = GatewayProcess.Start("interp_apps:barrier_app", "--threads", "4", "-w", "1", "-b", $"127.0.0.1:{port}");
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TestHost.Wait };
        await gateway.WaitUntilAnsweringAsync(client, "/?n=1");

        // Each request waits (up to 10 s) until four are inside the app: they all answer "together" only if all four were in at once.
        var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => client.GetStringAsync("/?n=4")));

        Assert.All(answers, a => Assert.Matches("^together [0-9]+ True$", a));
        Assert.Single(answers.Select(static a => a.Split(' ')[1]).Distinct());
    }
}

using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Adapter.Tests.Python;

/// <summary>
/// Python apps stuck past the request timeout: in-process, a pure-Python loop is interrupted and its thread serves
/// again; in both modes the health check tells the truth while threads or worker processes are stuck
/// (pyapps/bridge_apps.py).
/// </summary>
[Collection(nameof(TimingSensitive))]
public sealed class StuckAppTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1);

    [PythonFact]
    public async Task Spinning_apps_are_interrupted_at_the_timeout_and_their_threads_serve_again()
    {
        var records = Enumerable.Range(0, 2).Select(static _ => Path.Combine(Path.GetTempPath(), $"adapter-interrupted-{Guid.NewGuid():N}")).ToArray();
        var bodies = Enumerable.Range(0, 2).Select(static _ => Guid.NewGuid().ToString("N")).ToArray();
        await using var host = await StartAsync();
        try
        {
            // Four spinning requests, two at a time on the two threads: the first pair spins in the app call, the second in
            // the body. Before, the first pair's threads were replaced, the second pair's were past the replacement cap,
            // and every later request got 504 for the life of the process.
            var inCall = await Task.WhenAll(records.Select(r => host.Client.GetAsync($"/spin?record={Uri.EscapeDataString(r)}"))).WaitAsync(TestHost.Wait);
            var inBody = await Task.WhenAll(bodies.Select(name => host.Client.GetAsync($"/spin-body?{name}"))).WaitAsync(TestHost.Wait);
            Assert.All(inCall.Concat(inBody), static response => Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode));

            Assert.Equal("hello from cli_apps", await host.Client.GetStringAsync("/hello").WaitAsync(TestHost.Wait));
            foreach (var record in records)
            {
                var seen = await WaitForFileAsync(record);
                Assert.StartsWith("RequestTimeoutError|True|the request timed out", seen, StringComparison.Ordinal);
                Assert.Contains("(1 s, GatewayOptions.RequestTimeout)", seen, StringComparison.Ordinal);
            }

            var interrupted = await host.Logs.WaitForAsync(static e => e.Category == "Adapter.Python" && e.EventId.Id == 117 && e.Message.Contains("/spin-body", StringComparison.Ordinal));
            Assert.Contains("__next__", interrupted.Message, StringComparison.Ordinal);
            await HealthProbe.WaitForAsync(host, HttpStatusCode.OK, "Healthy");

            // The iterable that spun is closed exactly once, as after any failure. The client had its 504 at the
            // timeout, before the interrupt landed: the close comes on the thread's way back, so it is awaited.
            foreach (var name in bodies)
            {
                var deadline = DateTime.UtcNow + TestHost.Wait;
                string closed;
                while ((closed = await host.Client.GetStringAsync($"/closed?{name}")) == "0" && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(20);
                }

                Assert.Equal("1", closed);
            }

            // The interrupted threads themselves came back: none was given up on and replaced.
            Assert.DoesNotContain(host.Logs.Entries, static e => e.Is(14));
        }
        finally
        {
            foreach (var record in records)
            {
                File.Delete(record);
            }
        }
    }

    [PythonFact]
    public async Task Health_is_degraded_then_unhealthy_while_in_process_threads_are_stuck_and_healthy_once_they_return()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var blocked = $"/blocked?port={((IPEndPoint)listener.LocalEndpoint).Port}";
        await using var host = await StartAsync();
        var connections = new List<TcpClient>();
        var requests = new List<Task<HttpResponseMessage>>();
        try
        {
            await HealthProbe.WaitForAsync(host, HttpStatusCode.OK, "Healthy");

            // Each app waits in a native call for its connection to close, so the interrupt waits too: the threads stay stuck.
            async Task BlockAsync()
            {
                requests.Add(host.Client.GetAsync(blocked));
                connections.Add(await listener.AcceptTcpClientAsync().WaitAsync(TestHost.Wait));
            }

            await BlockAsync();
            await HealthProbe.WaitForAsync(host, HttpStatusCode.OK, "Degraded");

            // Two stuck threads replaced (event 14), then two more stuck in their replacements, past the replacement cap:
            // no thread can take a request.
            await BlockAsync();
            await WaitForReplacementsAsync(host, 2);
            await BlockAsync();
            await BlockAsync();
            await HealthProbe.WaitForAsync(host, HttpStatusCode.ServiceUnavailable, "Unhealthy");

            // Hung up on, each app comes back to the interpreter, where the pending exception ends it.
            foreach (var connection in connections)
            {
                connection.Dispose();
            }

            await HealthProbe.WaitForAsync(host, HttpStatusCode.OK, "Healthy");
            foreach (var request in requests)
            {
                using var response = await request.WaitAsync(TestHost.Wait);
                Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
            }

            Assert.Equal("hello from cli_apps", await host.Client.GetStringAsync("/hello").WaitAsync(TestHost.Wait));
        }
        finally
        {
            foreach (var connection in connections)
            {
                connection.Dispose();
            }
        }
    }

    [PythonFact]
    public async Task Health_is_degraded_while_a_stuck_worker_process_is_killed_even_once_its_replacement_is_ready()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        await using var host = await PythonHost.StartAsync(
            static (app, python) =>
            {
                app.MapHealthChecks("/healthz");
                app.MapGatewayApp("/blocked", python.Load("bridge_apps:blocked_app"));
            },
            PythonHost.Mode(2),
            static g => g.RequestTimeout = Timeout);
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>());
        await HealthProbe.WaitForAsync(host, HttpStatusCode.OK, "Healthy");

        // The app waits for its connection to close: its worker is stuck until it is killed past the timeout
        // (SIGTERM, then SIGKILL a second later, as the app never returns).
        var request = host.Client.GetAsync($"/blocked?port={((IPEndPoint)listener.LocalEndpoint).Port}");
        using var connection = await listener.AcceptTcpClientAsync().WaitAsync(TestHost.Wait);

        // Its replacement is ready while it is being killed: two workers can take requests, and the health is still
        // degraded (before, it was Healthy then).
        await WaitUntilAsync(() =>
        {
            var workers = metrics.Observe("gateway.worker_processes");
            return workers.GetValueOrDefault("gateway.worker.state=idle") == 2 && workers.GetValueOrDefault("gateway.worker.state=stopping") == 1;
        });
        using (var health = await host.Client.GetAsync("/healthz"))
        {
            Assert.Equal("Degraded", await health.Content.ReadAsStringAsync());
        }

        using var response = await request.WaitAsync(TestHost.Wait);
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        await HealthProbe.WaitForAsync(host, HttpStatusCode.OK, "Healthy");
    }

    [PythonFact]
    public async Task Worker_process_request_silent_past_the_timeout_is_answered_504_before_its_worker_is_gone()
    {
        // The supervisor's tick that stops the worker (SIGTERM; SIGKILL a second later, the app never returning) also
        // ends the request's wait for its frames: the client has its 504 then, not once the process has died.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        await using var host = await PythonHost.StartOneBlockableWorkerAsync(static g => g.RequestTimeout = Timeout);
        using (var json = System.Text.Json.JsonDocument.Parse(await host.Client.GetStringAsync("/pid")))
        {
            var pid = json.RootElement.GetProperty("pid").GetInt32();
            var request = host.Client.GetAsync($"/blocked?port={((IPEndPoint)listener.LocalEndpoint).Port}");
            using var connection = await listener.AcceptTcpClientAsync().WaitAsync(TestHost.Wait);

            using var response = await request.WaitAsync(TestHost.Wait);
            var alive = ProcessTable.IsAlive(pid);
            Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
            Assert.True(alive, "The 504 came only once the stuck worker had been killed.");
        }
    }

    /// <summary>Two threads and a one-second timeout: the apps of pyapps/bridge_apps.py and a plain one, and /healthz.</summary>
    private static Task<TestHost> StartAsync() =>
        PythonHost.StartAsync(
            static (app, python) =>
            {
                app.MapHealthChecks("/healthz");
                app.MapGatewayApp("/spin", python.Load("bridge_apps:interrupted_spin_app"));
                app.MapGatewayApp("/spin-body", python.Load("bridge_apps:spinning_body_app"));
                app.MapGatewayApp("/closed", python.Load("bridge_apps:closed_count"));
                app.MapGatewayApp("/blocked", python.Load("bridge_apps:blocked_app"));
                app.MapGatewayApp("/hello", python.Load("cli_apps:hello_app"));
            },
            static o => o.Threads = 2,
            static g => g.RequestTimeout = Timeout);

    private static async Task WaitForReplacementsAsync(TestHost host, int count)
    {
        var deadline = DateTime.UtcNow + TestHost.Wait;
        while (host.Logs.Entries.Count(static e => e.Is(14)) < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"Fewer than {count} stuck workers were replaced.");
            await Task.Delay(20);
        }
    }

    private static async Task<string> WaitForFileAsync(string path)
    {
        var deadline = DateTime.UtcNow + TestHost.Wait;
        while (!File.Exists(path) || new FileInfo(path).Length == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"The interrupted app never wrote {path}.");
            await Task.Delay(20);
        }

        return await File.ReadAllTextAsync(path);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TestHost.Wait;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"The condition did not hold within {TestHost.Wait}.");
            await Task.Delay(20);
        }
    }
}

using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Adapter.Tests.Python;

/// <summary>
/// Python apps in worker processes (pyapps/worker_apps.py): one request at a time per process, a crash answered
/// 502 and replaced, recycling, reloads without a failed request, and the workers never outliving the host.
/// </summary>
public sealed class WorkerProcessTests
{
    private const string Restarts = "gateway.worker_process.restarts|gateway.restart.reason=";

    [PythonFact]
    public async Task Concurrent_requests_run_in_distinct_worker_processes_whose_environ_says_multiprocess()
    {
        await using var host = await PythonHost.StartAsync("worker_apps:pid_app", PythonHost.Mode(2));

        // Each request holds its worker 300 ms, so the first two overlap and cannot share a process.
        var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => host.Client.GetStringAsync("/?sleep=0.3")))
            .WaitAsync(TestHost.Wait);
        var pids = answers.Select(Pid).Distinct().ToArray();

        Assert.Equal(2, pids.Length);
        Assert.DoesNotContain(Environment.ProcessId, pids);
        Assert.All(pids, static pid => Assert.Contains(pid, ProcessTable.ChildrenOf(Environment.ProcessId)));
        Assert.All(answers, static answer =>
        {
            using var json = JsonDocument.Parse(answer);
            Assert.True(json.RootElement.GetProperty("multiprocess").GetBoolean());
            Assert.False(json.RootElement.GetProperty("multithread").GetBoolean());
        });
    }

    [PythonFact]
    public async Task Requests_to_worker_processes_take_no_gateway_thread_while_they_wait_for_a_worker_or_on_one()
    {
        await using var host = await PythonHost.StartAsync("worker_apps:pid_app", PythonHost.Mode(1));

        // Eight at once on one worker: seven wait for it, and each waits on it 100 ms.
        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => host.Client.GetStringAsync("/?sleep=0.1")))
            .WaitAsync(TestHost.Wait);

        Assert.Single(answers.Select(Pid).Distinct());
        Assert.Equal(0, host.Services.GetRequiredService<PythonGateway>().Pool.ThreadCount);
    }

    [PythonFact]
    public async Task Client_gone_before_its_response_arrives_leaves_the_worker_in_step_for_the_next_request()
    {
        // The worker's whole response (status, body, end) reaches the host at once, after the client left: the host's
        // write fails on the first chunk and the end frame already read must still be found, or the only worker stays
        // taken until the request timeout kills it.
        await using var host = await PythonHost.StartAsync(
            static (app, python) => app.UseGatewayApp(python.Load("worker_apps:pid_app")),
            PythonHost.Mode(1),
            gateway: static o => o.RequestTimeout = TimeSpan.FromSeconds(20));
        for (var i = 0; i < 3; i++)
        {
            using (var leave = new CancellationTokenSource(TimeSpan.FromMilliseconds(150)))
            {
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => host.Client.GetAsync("/?sleep=0.5", leave.Token));
            }

            // Served once the worker has answered the abandoned request (0.35 s on), well before the timeout.
            var served = System.Diagnostics.Stopwatch.StartNew();
            await host.Client.GetStringAsync("/").WaitAsync(TestHost.Wait);
            Assert.True(served.Elapsed < TimeSpan.FromSeconds(10), $"The next request waited {served.Elapsed.TotalSeconds:0.0} s for the worker.");
        }
    }

    [PythonFact]
    public async Task Requests_past_the_queue_limit_while_every_worker_is_busy_are_answered_503_at_once()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        await using var host = await PythonHost.StartOneBlockableWorkerAsync(static g => g.QueueLimit = 1);

        // The only worker is held until the test hangs up; one request may wait for it, the next is refused.
        var holding = host.Client.GetAsync($"/blocked?port={((IPEndPoint)listener.LocalEndpoint).Port}");
        var connection = await listener.AcceptTcpClientAsync().WaitAsync(TestHost.Wait);
        var waiting = host.Client.GetAsync("/pid");
        var python = host.Services.GetRequiredService<PythonGateway>();
        var deadline = DateTime.UtcNow + TestHost.Wait;
        while (python.WaitingForWorker < 1)
        {
            Assert.True(DateTime.UtcNow < deadline, "The second request never waited for the worker.");
            await Task.Delay(10);
        }

        var refused = await host.Client.GetAsync("/pid").WaitAsync(TestHost.Wait);
        using (refused)
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Equal("1", refused.Headers.RetryAfter?.ToString());
            Assert.False(waiting.IsCompleted, "The request within the limit was answered while the worker was held.");
        }

        connection.Dispose();
        using var held = await holding.WaitAsync(TestHost.Wait);
        using var queued = await waiting.WaitAsync(TestHost.Wait);
        Assert.Equal(HttpStatusCode.OK, held.StatusCode);
        Assert.Equal(HttpStatusCode.OK, queued.StatusCode);
    }

    [PythonFact]
    public async Task Worker_that_exits_before_the_headers_is_answered_502_and_replaced()
    {
        await using var host = await PythonHost.StartAsync(
            static (app, python) =>
            {
                app.MapGatewayApp("/crash", python.Load("worker_apps:crash_app"));
                app.MapGatewayApp("/pid", python.Load("worker_apps:pid_app"));
            },
            // One worker: only a replacement can serve after the crash.
            PythonHost.Mode(1));
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>());
        var before = Pid(await host.Client.GetStringAsync("/pid"));

        using (var crashed = await host.Client.GetAsync("/crash"))
        {
            Assert.Equal(HttpStatusCode.BadGateway, crashed.StatusCode);
        }

        for (var i = 0; i < 3; i++)
        {
            var after = Pid(await host.Client.GetStringAsync("/pid"));
            Assert.NotEqual(before, after);
            Assert.Contains(after, ProcessTable.ChildrenOf(Environment.ProcessId));
        }

        await metrics.WaitUntilAsync(static m => m.Sum(Restarts + "crash") >= 1);
        Assert.Equal(1, metrics.Sum(Restarts + "crash"));
        var logged = await host.Logs.WaitForAsync(static e => e.Category == "Adapter.Python" && e.EventId.Id == 108);
        Assert.Contains("exit code 3", logged.Message, StringComparison.Ordinal);
    }

    [PythonFact]
    public async Task Worker_that_exits_after_the_headers_cuts_the_response_short()
    {
        var signal = Path.Combine(Path.GetTempPath(), $"adapter-signal-{Guid.NewGuid():N}");
        await using var host = await PythonHost.StartAsync(
            static (app, python) =>
            {
                app.MapGatewayApp("/crash", python.Load("worker_apps:crash_after_headers_app"));
                app.MapGatewayApp("/pid", python.Load("worker_apps:pid_app"));
            },
            PythonHost.Mode(1));
        try
        {
            using var response = await host.Client.GetAsync($"/crash?signal={Uri.EscapeDataString(signal)}", HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await using var body = await response.Content.ReadAsStreamAsync();
            var first = new byte[12];
            await body.ReadExactlyAsync(first).AsTask().WaitAsync(TestHost.Wait);
            Assert.Equal("first chunk\n", System.Text.Encoding.ASCII.GetString(first));

            // The first chunk is at the client and the body has not ended: only now does the app end its process.
            var rest = body.ReadAsync(new byte[64]).AsTask();
            Assert.False(rest.Wait(TimeSpan.FromMilliseconds(200)), "The body ended before the worker did.");
            await File.WriteAllTextAsync(signal, "");
            var error = await Record.ExceptionAsync(() => rest.WaitAsync(TestHost.Wait));
            Assert.True(error is HttpRequestException or IOException, $"The body was not cut short: {error?.ToString() ?? "it ended cleanly"}");

            using var next = await host.Client.GetAsync("/pid");
            Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        }
        finally
        {
            File.Delete(signal);
        }
    }

    [PythonFact]
    public async Task Worker_is_recycled_after_max_requests()
    {
        await using var host = await PythonHost.StartAsync("worker_apps:pid_app", static o =>
        {
            o.Processes = 1;
            o.MaxRequests = 3;
            o.MaxRequestsJitter = 0;
        });
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>());

        var pids = new List<int>();
        for (var i = 0; i < 10; i++)
        {
            using var response = await host.Client.GetAsync("/");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            pids.Add(Pid(await response.Content.ReadAsStringAsync()));
        }

        // One process at a time, three requests each: a a a b b b c c c d.
        Assert.Equal(4, pids.Distinct().Count());
        Assert.All(pids.Chunk(3), static run => Assert.Single(run.Distinct()));
        await metrics.WaitUntilAsync(static m => m.Sum(Restarts + "max_requests") >= 3);
        Assert.Equal(3, metrics.Sum(Restarts + "max_requests"));
    }

    [PythonFact]
    public async Task Reload_serves_the_edited_module_without_failing_a_request_and_keeps_the_old_workers_when_the_edit_is_broken()
    {
        var folder = Directory.CreateTempSubdirectory("adapter-reload-");
        try
        {
            var module = Path.Combine(folder.FullName, "reload_me.py");
            await File.WriteAllTextAsync(module, ReloadModule("v1"));
            PythonGateway? gateway = null;
            await using var host = await PythonHost.StartAsync(
                (app, python) =>
                {
                    gateway = python;
                    app.UseGatewayApp(python.Load("reload_me:app"));
                },
                o =>
                {
                    o.Processes = 2;
                    o.Paths.Add(folder.FullName);
                });

            // One sequential loop and two more beside it, as fast as they go. A request sent after ReloadAsync
            // completed must be answered by the new module.
            var failures = new ConcurrentQueue<string>();
            var seen = new ConcurrentDictionary<string, int>();
            var reloaded = 0;
            using var stop = new CancellationTokenSource();
            var loops = Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var afterReload = Volatile.Read(ref reloaded) == 1;
                    try
                    {
                        using var response = await host.Client.GetAsync("/");
                        var text = await response.Content.ReadAsStringAsync();
                        if (response.StatusCode != HttpStatusCode.OK)
                        {
                            failures.Enqueue($"{(int)response.StatusCode}: {text}");
                        }
                        else if (afterReload && text != "v2")
                        {
                            failures.Enqueue($"'{text}' for a request sent after the reload");
                        }

                        seen.AddOrUpdate(text, 1, static (_, n) => n + 1);
                    }
                    catch (Exception ex)
                    {
                        failures.Enqueue(ex.ToString());
                    }
                }
            })).ToArray();

            await WaitUntilAsync(() => seen.ContainsKey("v1"));

            // A different size too: Python's bytecode cache trusts a source of the same size and mtime second.
            await File.WriteAllTextAsync(module, ReloadModule("v2") + "# edited\n");
            await gateway!.ReloadAsync().WaitAsync(TestHost.Wait);
            Volatile.Write(ref reloaded, 1);
            await WaitUntilAsync(() => seen.GetValueOrDefault("v2") >= 30);
            await stop.CancelAsync();
            await Task.WhenAll(loops).WaitAsync(TestHost.Wait);

            Assert.Empty(failures);
            Assert.Equal(["v1", "v2"], seen.Keys.Order());

            await File.WriteAllTextAsync(module, "def app(environ, start_response:\n    pass\n");
            var error = await Assert.ThrowsAsync<InvalidOperationException>(() => gateway.ReloadAsync().WaitAsync(TestHost.Wait));
            Assert.Contains("reload_me", error.Message, StringComparison.Ordinal);
            Assert.Contains("SyntaxError", error.Message, StringComparison.Ordinal);
            for (var i = 0; i < 4; i++)
            {
                Assert.Equal("v2", await host.Client.GetStringAsync("/"));
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [PythonFact]
    public async Task Sighup_reloads_the_sample_host_and_sigterm_then_stops_it_with_every_worker()
    {
        var folder = Directory.CreateTempSubdirectory("adapter-sighup-");
        try
        {
            var module = Path.Combine(folder.FullName, "reload_me.py");
            await File.WriteAllTextAsync(module, ReloadModule("v1"));
            await using var host = await SampleHostProcess.StartAsync(
                "/r/", "--environment=Production", "--PythonGateway:Processes=2", $"--PythonGateway:Paths:0={folder.FullName}", "--PythonApps:/r=reload_me:app");
            Assert.Equal("v1", await host.Client.GetStringAsync("/r/"));
            var before = host.Children();

            await File.WriteAllTextAsync(module, ReloadModule("v2") + "# edited\n");
            host.Signal(SampleHostProcess.SigHup);
            await WaitUntilAsync(async () =>
            {
                Assert.False(host.Process.HasExited, $"The host ended on SIGHUP:\n{host.Output}");
                return await host.Client.GetStringAsync("/r/") == "v2";
            });

            // The old generation ends once it is idle; the new one serves.
            Assert.Empty(await ProcessTable.WaitUntilGoneAsync(before, TimeSpan.FromSeconds(10)));
            var workers = host.Children();
            Assert.Equal(2, workers.Length);

            // Graceful stop: exit code 0, and no worker left behind.
            host.Signal(SampleHostProcess.SigTerm);
            await host.Process.WaitForExitAsync().WaitAsync(TestHost.Wait);
            Assert.True(host.Process.ExitCode == 0, $"Exit code {host.Process.ExitCode}:\n{host.Output}");
            Assert.Empty(await ProcessTable.WaitUntilGoneAsync(workers, TimeSpan.FromSeconds(10)));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [PythonFact]
    public async Task Load_failure_names_the_module_and_sys_path_or_the_missing_attribute_and_the_loaded_app_keeps_serving()
    {
        await using var host = await PythonHost.StartAsync("worker_apps:pid_app", PythonHost.Mode(1));
        var python = host.Services.GetRequiredService<PythonGateway>();

        var module = await Assert.ThrowsAsync<InvalidOperationException>(() => Task.Run(() => python.Load("no_such_module:app")).WaitAsync(TestHost.Wait));
        Assert.Contains("no_such_module", module.Message, StringComparison.Ordinal);
        Assert.Contains("ModuleNotFoundError", module.Message, StringComparison.Ordinal);
        Assert.Contains("sys.path", module.Message, StringComparison.Ordinal);

        var attribute = await Assert.ThrowsAsync<InvalidOperationException>(() => Task.Run(() => python.Load("worker_apps:missing_attr")).WaitAsync(TestHost.Wait));
        Assert.Contains("has no attribute 'missing_attr'", attribute.Message, StringComparison.Ordinal);

        using var response = await host.Client.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [PythonFact]
    public async Task File_wrapper_over_a_real_file_is_sent_whole_from_its_position()
    {
        var path = Path.Combine(Path.GetTempPath(), $"adapter-file-{Guid.NewGuid():N}.bin");
        var content = new byte[1024 * 1024 + 17];
        new Random(12).NextBytes(content);
        await File.WriteAllBytesAsync(path, content);
        try
        {
            await using var host = await PythonHost.StartAsync("worker_apps:file_app", PythonHost.Mode(1));

            var whole = await host.Client.GetByteArrayAsync($"/?path={Uri.EscapeDataString(path)}");
            Assert.True(content.AsSpan().SequenceEqual(whole), $"{whole.Length} bytes differ from the file's {content.Length}");
            var tail = await host.Client.GetByteArrayAsync($"/?path={Uri.EscapeDataString(path)}&offset=1000");
            Assert.True(content.AsSpan(1000).SequenceEqual(tail), $"{tail.Length} bytes differ from the file's last {content.Length - 1000}");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [PythonFact]
    public async Task Body_over_the_server_limit_is_answered_413_and_the_worker_serves_on()
    {
        await using var host = await PythonHost.StartAsync(
            static (app, python) => app.UseGatewayApp(python.Load("worker_apps:read_body_app")),
            PythonHost.Mode(1),
            builder: static b => b.WebHost.ConfigureKestrel(static k => k.Limits.MaxRequestBodySize = 1000));

        using (var declared = await host.Client.PostAsync("/", new ByteArrayContent(new byte[5000])))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, declared.StatusCode);
        }

        using var chunked = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StreamContent(new MemoryStream(new byte[5000])) };
        chunked.Headers.TransferEncodingChunked = true;
        using (var response = await host.Client.SendAsync(chunked))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        }

        using var small = await host.Client.PostAsync("/", new ByteArrayContent(new byte[500]));
        Assert.Equal(HttpStatusCode.OK, small.StatusCode);
        Assert.Equal("500", await small.Content.ReadAsStringAsync());
    }

    [PythonFact]
    public async Task Worker_process_gauge_reports_every_worker_idle_after_start()
    {
        await using var host = await PythonHost.StartAsync("worker_apps:pid_app", PythonHost.Mode(2));
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>());

        var expected = new Dictionary<string, long>
        {
            ["gateway.worker.state=starting"] = 0,
            ["gateway.worker.state=idle"] = 2,
            ["gateway.worker.state=busy"] = 0,
            ["gateway.worker.state=stopping"] = 0,
        };
        Dictionary<string, long> observed = [];
        await WaitUntilAsync(() =>
        {
            observed = metrics.Observe("gateway.worker_processes");
            return expected.All(p => observed.GetValueOrDefault(p.Key, -1) == p.Value);
        });
        Assert.Equal(expected, observed);
    }

    internal static int Pid(string answer)
    {
        using var json = JsonDocument.Parse(answer);
        return json.RootElement.GetProperty("pid").GetInt32();
    }

    private static string ReloadModule(string answer) =>
        $"def app(environ, start_response):\n    start_response(\"200 OK\", [(\"Content-Type\", \"text/plain\")])\n    return [b\"{answer}\"]\n";

    private static Task WaitUntilAsync(Func<bool> condition) => WaitUntilAsync(() => Task.FromResult(condition()));

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TestHost.Wait;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The condition did not hold within {TestHost.Wait}.");
            }

            await Task.Delay(20);
        }
    }
}

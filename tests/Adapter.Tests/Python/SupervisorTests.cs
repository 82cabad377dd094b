using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Adapter.Tests.Python;

/// <summary>
/// The worker-process supervisor's less travelled paths: an import that hangs past StartTimeout, replacements that
/// fail to start and are retried with back-off, a reload replaced by another before it was ready, a busy worker
/// at stop, and the ReloadOnChange watcher. Each app is a module written for the test, whose import hangs or fails
/// while a marker file of the test's own folder exists.
/// </summary>
[Collection(nameof(TimingSensitive))]
public sealed class SupervisorTests : IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("adapter-supervisor-");
    private readonly string _module = $"supervisor_{Guid.NewGuid():N}";

    public SupervisorTests() => WriteModule("one");

    public void Dispose() => _folder.Delete(recursive: true);

    private string Marker(string name) => Path.Combine(_folder.FullName, name);

    private void WriteModule(string version) => File.WriteAllText(Path.Combine(_folder.FullName, _module + ".py"), $$"""
        import os
        import time

        _markers = {{System.Text.Json.JsonSerializer.Serialize(_folder.FullName)}}
        while os.path.exists(os.path.join(_markers, "hang")):
            time.sleep(0.05)
        if os.path.exists(os.path.join(_markers, "fail")):
            raise RuntimeError("the fail marker is present")


        def app(environ, start_response):
            if environ["PATH_INFO"] == "/crash":
                os._exit(3)
            if environ["PATH_INFO"] == "/busy":
                with open(os.path.join(_markers, "busy.tmp"), "w") as file:
                    file.write(str(os.getpid()))
                os.replace(os.path.join(_markers, "busy.tmp"), os.path.join(_markers, "busy"))
                while True:
                    time.sleep(1)
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [("{{version}} %d" % os.getpid()).encode()]
        """);

    private Task<TestHost> StartAsync(Action<PythonGatewayOptions>? options = null, TimeSpan? shutdownTimeout = null) =>
        PythonHost.StartAsync(
            (app, python) => app.UseGatewayApp(python.Load(_module + ":app")),
            o =>
            {
                o.Processes = 1;
                o.Paths.Add(_folder.FullName);
                options?.Invoke(o);
            },
            builder: b => b.Services.Configure<Microsoft.Extensions.Hosting.HostOptions>(h => h.ShutdownTimeout = shutdownTimeout ?? h.ShutdownTimeout));

    [PythonFact]
    public async Task Import_that_hangs_past_the_start_timeout_fails_the_load_and_leaves_no_worker()
    {
        File.WriteAllText(Marker("hang"), "");
        var started = DateTime.UtcNow;
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => Task.Run(() => StartAsync(static o => o.StartTimeout = TimeSpan.FromSeconds(2))).WaitAsync(TestHost.Wait));
        var took = DateTime.UtcNow - started;

        Assert.Contains(_module, failure.ToString(), StringComparison.Ordinal);
        Assert.True(took < TimeSpan.FromSeconds(12), $"The load failed only after {took}.");
        await WaitUntil(() => Workers().Length == 0, "A hung worker outlived its start timeout.");
    }

    [PythonFact]
    public async Task Replacement_that_fails_to_start_is_retried_with_back_off_until_it_starts()
    {
        await using var host = await StartAsync();
        var first = await host.Client.GetStringAsync("/");

        // From now on a new worker cannot import the app: the crash's replacement fails, and is tried again.
        File.WriteAllText(Marker("fail"), "");
        using (var crashed = await host.Client.GetAsync("/crash"))
        {
            Assert.Equal(HttpStatusCode.BadGateway, crashed.StatusCode);
        }

        await host.Logs.WaitForAsync(static e => e.Category == "Adapter.Python" && e.EventId.Id == 107);
        var retried = await host.Logs.WaitForAsync(e => e.Category == "Adapter.Python" && e.EventId.Id == 107 && host.Logs.Entries.Count(x => x.EventId.Id == 107 && x.Category == "Adapter.Python") >= 2);
        Assert.Contains("the fail marker is present", retried.Message, StringComparison.Ordinal);

        // The import works again: a retry starts a worker, and requests are served by it.
        File.Delete(Marker("fail"));
        using var cancel = new CancellationTokenSource(TestHost.Wait);
        var next = await host.Client.GetStringAsync("/", cancel.Token);
        Assert.NotEqual(first, next);
    }

    [PythonFact]
    public async Task Reload_asked_again_before_the_first_is_ready_serves_the_newest_code()
    {
        await using var host = await StartAsync();
        var python = host.Services.GetRequiredService<PythonGateway>();
        Assert.StartsWith("one ", await host.Client.GetStringAsync("/"));

        // The first reload's workers hang in their import; a second reload, of newer code, replaces that generation.
        File.WriteAllText(Marker("hang"), "");
        WriteModule("two");
        var firstReload = python.ReloadAsync();
        await WaitUntil(() => host.Logs.Entries.Any(static e => e.EventId.Id == 104 && e.Category == "Adapter.Python"), "The first reload never started.");
        WriteModule("three");
        var secondReload = python.ReloadAsync();
        File.Delete(Marker("hang"));

        await secondReload.WaitAsync(TestHost.Wait);
        await Record.ExceptionAsync(() => firstReload.WaitAsync(TestHost.Wait));
        Assert.StartsWith("three ", await host.Client.GetStringAsync("/"));

        // The superseded generation's worker was stopped: one worker process is left, the newest.
        await WaitUntil(() => Workers().Length == 1, "The superseded generation's worker outlived the second reload.");
    }

    [PythonFact]
    public async Task Busy_worker_is_killed_once_the_hosts_shutdown_timeout_has_run_out()
    {
        var host = await StartAsync(shutdownTimeout: TimeSpan.FromSeconds(2));
        var disposed = false;
        try
        {
            var busy = host.Client.GetAsync("/busy");
            await WaitUntil(() => File.Exists(Marker("busy")), "The busy request never started.");
            var pid = int.Parse(File.ReadAllText(Marker("busy")), System.Globalization.CultureInfo.InvariantCulture);

            var stopping = DateTime.UtcNow;
            disposed = true;
            await host.DisposeAsync().AsTask().WaitAsync(TestHost.Wait);
            var took = DateTime.UtcNow - stopping;

            // Gone (or a zombie the test process has not reaped: no memory left).
            await WaitUntil(() => !File.Exists($"/proc/{pid}/stat") || ProcessTable.StatusKiB(pid, "VmRSS") <= 0, $"The busy worker {pid} outlived the host's stop.");

            // The shutdown timeout (2 s), then the kill at once: not the 3 s stop grace more an idle worker gets.
            Assert.True(took < TimeSpan.FromSeconds(4.5), $"Stopping took {took}.");
            await Record.ExceptionAsync(() => busy);
        }
        finally
        {
            if (!disposed)
            {
                await host.DisposeAsync();
            }
        }
    }

    [PythonFact]
    public async Task Changed_module_is_reloaded_when_reload_on_change_is_on()
    {
        await using var host = await StartAsync(static o => o.ReloadOnChange = true);
        Assert.StartsWith("one ", await host.Client.GetStringAsync("/"));

        WriteModule("two");
        await host.Logs.WaitForAsync(static e => e.Category == "Adapter.Python" && e.EventId.Id == 105);
        Assert.StartsWith("two ", await host.Client.GetStringAsync("/"));
    }

    /// <summary>This process's worker processes.</summary>
    private static int[] Workers() =>
        [.. ProcessTable.ChildrenOf(Environment.ProcessId).Where(static pid => CommandLine(pid).Contains("gateway_worker.py", StringComparison.Ordinal))];

    private static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static async Task WaitUntil(Func<bool> condition, string failure)
    {
        var deadline = DateTime.UtcNow + TestHost.Wait;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(20);
        }
    }
}

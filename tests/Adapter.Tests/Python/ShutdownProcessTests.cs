using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Adapter.Tests.Python;

/// <summary>The sample host as its own process, stopped with SIGTERM while Python apps spin on every worker.</summary>
[Collection(nameof(TimingSensitive))]
public sealed class ShutdownProcessTests
{
    [PythonFact("flask")]
    public async Task Sigterm_while_python_apps_spin_exits_cleanly()
    {
        var port = FreePort();
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in (string[])["exec", Path.Combine(AppContext.BaseDirectory, "KestrelHost.dll"),
            $"--urls=http://127.0.0.1:{port}", "--shutdownTimeoutSeconds=5", "--Gateway:RequestTimeout=00:00:01",
            "--PythonApps:/spin=bridge_apps:stubborn_spin_app", "--PythonGateway:Processes=0",
            "--Logging:LogLevel:Default=Warning"])
        {
            start.ArgumentList.Add(argument);
        }

        var markers = Directory.CreateTempSubdirectory("adapter-spin-");
        using var host = Process.Start(start)!;
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        host.OutputDataReceived += (_, e) => output.Enqueue(e.Data ?? "");
        host.ErrorDataReceived += (_, e) => output.Enqueue(e.Data ?? "");
        host.BeginOutputReadLine();
        host.BeginErrorReadLine();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TestHost.Wait };
            var deadline = DateTime.UtcNow + TestHost.Wait;
            while (true)
            {
                try
                {
                    Assert.Equal("Hello, World!", await client.GetStringAsync("/flask/"));
                    break;
                }
                catch (HttpRequestException) when (DateTime.UtcNow < deadline)
                {
                    await Task.Delay(100);
                }
            }

            // More spinning requests than the Python pool has threads (2): the first ones time out, their threads
            // swallow the interrupt and spin on, and replacements take the others, so up to four threads spin inside
            // Python when the process exits. SIGTERM comes once both first threads are known to spin (their markers).
            var spinning = Enumerable.Range(0, 4).Select(_ => client.GetAsync($"/spin/?dir={Uri.EscapeDataString(markers.FullName)}")).ToArray();
            var spinningSince = DateTime.UtcNow + TestHost.Wait;
            while (Directory.GetFiles(markers.FullName).Length < 2)
            {
                Assert.True(DateTime.UtcNow < spinningSince, "The spinning apps never started.");
                await Task.Delay(20);
            }

            Assert.Equal(0, Kill(host.Id, 15));
            await host.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(40));
            var log = string.Join("\n", output);
            Assert.True(host.ExitCode == 0, $"Exit code {host.ExitCode}:\n{log}");
            Assert.DoesNotContain("Fatal Python error", log, StringComparison.Ordinal);
            Assert.DoesNotContain("Unhandled exception", log, StringComparison.Ordinal);
            foreach (var request in spinning)
            {
                // Timed out (504), or cut off by the stop: never an answer from an app that never returned.
                try
                {
                    using var response = await request;
                    Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
                }
                catch (HttpRequestException)
                {
                }
            }
        }
        finally
        {
            if (!host.HasExited)
            {
                host.Kill(entireProcessTree: true);
            }

            markers.Delete(recursive: true);
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

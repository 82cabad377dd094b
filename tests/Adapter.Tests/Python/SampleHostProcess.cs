using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Adapter.Tests.Python;

/// <summary>
/// The sample host (<c>KestrelHost.dll</c> in the test output) as a process of its own, with worker processes of
/// Debian's Python: for signals, for the processes it leaves behind, and for its own memory.
/// </summary>
internal sealed class SampleHostProcess : IAsyncDisposable
{
    public const int SigHup = 1;
    public const int SigKill = 9;
    public const int SigTerm = 15;

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private SampleHostProcess(Process process, int port)
    {
        _process = process;
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TestHost.Wait };
    }

    public HttpClient Client { get; }

    public int Id => _process.Id;

    public Process Process => _process;

    public string Output => string.Join("\n", _output);

    /// <summary>Starts the host with <paramref name="arguments"/> and waits until <paramref name="readyPath"/> answers 200.</summary>
    public static async Task<SampleHostProcess> StartAsync(string readyPath, params string[] arguments)
    {
        var port = FreePort();
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in (string[])["exec", Path.Combine(AppContext.BaseDirectory, "KestrelHost.dll"), $"--urls=http://127.0.0.1:{port}",
            $"--PythonGateway:PythonExecutable={PythonHost.PythonExecutable}", "--Logging:LogLevel:Default=Warning", .. arguments])
        {
            start.ArgumentList.Add(argument);
        }

        var host = new SampleHostProcess(Process.Start(start)!, port);
        host._process.OutputDataReceived += (_, e) => host._output.Enqueue(e.Data ?? "");
        host._process.ErrorDataReceived += (_, e) => host._output.Enqueue(e.Data ?? "");
        host._process.BeginOutputReadLine();
        host._process.BeginErrorReadLine();
        try
        {
            var deadline = DateTime.UtcNow + TestHost.Wait;
            while (true)
            {
                Assert.False(host._process.HasExited, $"The sample host exited with {(host._process.HasExited ? host._process.ExitCode : 0)}:\n{host.Output}");
                try
                {
                    using var response = await host.Client.GetAsync(readyPath);
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        return host;
                    }
                }
                catch (HttpRequestException)
                {
                }

                Assert.True(DateTime.UtcNow < deadline, $"The sample host did not answer {readyPath} within {TestHost.Wait}:\n{host.Output}");
                await Task.Delay(100);
            }
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sends <paramref name="signal"/> to the host.</summary>
    public void Signal(int signal) => Assert.Equal(0, Kill(_process.Id, signal));

    /// <summary>The live processes whose parent is the host: its Python workers.</summary>
    public int[] Children() => [.. ProcessTable.ChildrenOf(_process.Id)];

    /// <summary>A field of the host's <c>/proc/PID/status</c> in KiB (<c>VmRSS</c>, <c>VmHWM</c>).</summary>
    public long StatusKiB(string field) => ProcessTable.StatusKiB(_process.Id, field);

    /// <summary>Resets the host's peak resident set (<c>VmHWM</c>) to its current one.</summary>
    public void ResetPeak() => File.WriteAllText($"/proc/{_process.Id}/clear_refs", "5");

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        var children = ProcessTable.ChildrenOf(_process.Id).ToArray();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TestHost.Wait);
        }

        foreach (var child in children)
        {
            _ = Kill(child, SigKill);
        }

        _process.Dispose();

        // A host ended by SIGKILL left its worker-script folder behind: removed as the next host would.
        WorkerScriptFolder.RemoveOrphans(Path.GetTempPath());
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}

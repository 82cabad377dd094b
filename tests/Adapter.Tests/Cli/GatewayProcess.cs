using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Adapter.Tests.Python;

namespace Adapter.Tests.Cli;

/// <summary>
/// The <c>gateway</c> command (<c>Adapter.Cli.dll</c> in the test output) as a process of its own, started in the tests'
/// <c>pyapps</c> folder with Debian's Python for its workers; its standard output and error kept apart.
/// </summary>
internal sealed class GatewayProcess : IAsyncDisposable
{
    public const int SigKill = 9;
    public const int SigTerm = 15;
    public const int SigHup = 1;
    public const int SigUsr1 = 10;
    public const int SigUsr2 = 12;
    public const int SigTtin = 21;
    public const int SigTtou = 22;
    public const int SigWinch = 28;

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly ConcurrentQueue<string> _error = new();
    private readonly TaskCompletionSource _outputClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _errorClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private GatewayProcess(Process process) => _process = process;

    public int Id => _process.Id;

    /// <summary>The lines written to standard output so far.</summary>
    public string[] Output => [.. _output];

    /// <summary>The lines written to standard error so far.</summary>
    public string[] Error => [.. _error];

    /// <summary>Both streams, for assertion messages.</summary>
    public string Transcript => $"stdout:\n{string.Join("\n", _output)}\nstderr:\n{string.Join("\n", _error)}";

    public static GatewayProcess Start(params string[] arguments) => Start(new Dictionary<string, string>(), arguments);

    /// <summary>Starts the gateway with <paramref name="environment"/> added to its environment variables.</summary>
    public static GatewayProcess Start(IReadOnlyDictionary<string, string> environment, params string[] arguments) =>
        StartWithEnvironment(environment.ToDictionary(static e => e.Key, static e => (string?)e.Value), arguments);

    /// <summary>Starts the gateway with <paramref name="environment"/> applied to its environment variables: a null value removes one.</summary>
    public static GatewayProcess StartWithEnvironment(IReadOnlyDictionary<string, string?> environment, params string[] arguments) =>
        Start(environment, ignoreHangUp: false, arguments);

    /// <summary>
    /// Starts the gateway as <c>nohup</c> would, with SIGHUP ignored from the start (the disposition it inherits): a shell
    /// sets it, then <c>exec</c>s the gateway, which keeps the shell's process id.
    /// </summary>
    public static GatewayProcess StartIgnoringHangUp(params string[] arguments) =>
        Start(new Dictionary<string, string?>(), ignoreHangUp: true, arguments);

    private static GatewayProcess Start(IReadOnlyDictionary<string, string?> environment, bool ignoreHangUp, string[] arguments)
    {
        var start = new ProcessStartInfo(ignoreHangUp ? "/bin/sh" : "dotnet")
        {
            WorkingDirectory = PythonHost.AppsFolder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        string[] launcher = ignoreHangUp ? ["-c", "trap '' HUP; exec dotnet \"$@\"", "sh"] : [];
        foreach (var argument in (string[])[.. launcher, "exec", Path.Combine(AppContext.BaseDirectory, "Adapter.Cli.dll"), .. arguments])
        {
            start.ArgumentList.Add(argument);
        }

        // As a user would: the interpreter through configuration's environment variables, not a flag.
        start.Environment["PythonGateway__PythonExecutable"] = PythonHost.PythonExecutable;
        foreach (var (name, value) in environment)
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        var gateway = new GatewayProcess(Process.Start(start)!);
        gateway._process.OutputDataReceived += (_, e) => Receive(e.Data, gateway._output, gateway._outputClosed);
        gateway._process.ErrorDataReceived += (_, e) => Receive(e.Data, gateway._error, gateway._errorClosed);
        gateway._process.BeginOutputReadLine();
        gateway._process.BeginErrorReadLine();
        return gateway;
    }

    /// <summary>Waits for the process to exit and both streams to end; its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        try
        {
            await Task.WhenAll(_process.WaitForExitAsync(), _outputClosed.Task, _errorClosed.Task).WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"The gateway did not exit within {timeout}:\n{Transcript}");
        }

        return _process.ExitCode;
    }

    /// <summary>Polls <paramref name="path"/> until it answers at all (any status), failing if the process exits first.</summary>
    public async Task WaitUntilAnsweringAsync(HttpClient client, string path)
    {
        var deadline = DateTime.UtcNow + TestHost.Wait;
        while (true)
        {
            Assert.False(_process.HasExited, $"The gateway exited with {(_process.HasExited ? _process.ExitCode : 0)}:\n{Transcript}");
            try
            {
                using var response = await client.GetAsync(path);
                return;
            }
            catch (HttpRequestException)
            {
            }

            Assert.True(DateTime.UtcNow < deadline, $"The gateway did not answer {path} within {TestHost.Wait}:\n{Transcript}");
            await Task.Delay(100);
        }
    }

    /// <summary>A loopback port free a moment ago.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>True until the process has exited.</summary>
    public bool IsRunning => !_process.HasExited;

    /// <summary>Sends <paramref name="signal"/> to the gateway.</summary>
    public void Signal(int signal) => Assert.Equal(0, Kill(_process.Id, signal));

    public async ValueTask DisposeAsync()
    {
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

    private static void Receive(string? line, ConcurrentQueue<string> lines, TaskCompletionSource closed)
    {
        if (line is null)
        {
            closed.TrySetResult();
        }
        else
        {
            lines.Enqueue(line);
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}

using System.Diagnostics;
using Adapter.Tests.Python;

namespace Adapter.Tests.Cli;

/// <summary>
/// Which Python runs the apps, in both modes: <c>--python</c>, else the active virtualenv's, else <c>python3</c> from
/// <c>PATH</c>; a failure names that interpreter and the flag that changes it.
/// </summary>
public sealed class GatewayInterpreterTests(BareVirtualenv venv) : IClassFixture<BareVirtualenv>
{
    [PythonTheory("flask")]
    [InlineData("1", false)]
    [InlineData("0", false)]
    [InlineData("1", true)]
    [InlineData("0", true)]
    public async Task An_interpreter_that_lacks_the_apps_packages_is_named_with_the_python_flag(string workers, bool activated)
    {
        var port = GatewayProcess.FreePort();
        var environment = new Dictionary<string, string?>
        {
            // Nothing configured: the default decides, the active virtualenv's python, else python3 from PATH.
            ["PythonGateway__PythonExecutable"] = null,
            ["PATH"] = activated ? Environment.GetEnvironmentVariable("PATH") : venv.PathFirst,
            ["VIRTUAL_ENV"] = activated ? venv.Root : null,
        };
        await using var gateway = GatewayProcess.StartWithEnvironment(environment, "flask_app:app", "-w", workers, "-b", $"127.0.0.1:{port}");
        var code = await gateway.WaitForExitAsync(TestHost.Wait);

        Assert.True(code == 3, $"Exit code {code}:\n{gateway.Transcript}");
        var line = gateway.Error.Last(l => l.Length > 0);
        Assert.StartsWith("gateway: ", line, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(venv.Bin, "python"), line, StringComparison.Ordinal);
        Assert.Contains("Python 3.", line, StringComparison.Ordinal);
        Assert.Contains("--python", line, StringComparison.Ordinal);
        Assert.Contains("flask", line, StringComparison.Ordinal);
    }

    [PythonTheory("flask")]
    [InlineData("1")]
    [InlineData("0")]
    public async Task The_python_flag_serves_the_app_whatever_PATH_starts_with_and_sys_executable_is_that_interpreter(string workers)
    {
        var port = GatewayProcess.FreePort();
        var environment = new Dictionary<string, string?> { ["PythonGateway__PythonExecutable"] = null, ["PATH"] = venv.PathFirst };
        await using var gateway = GatewayProcess.StartWithEnvironment(
            environment, "flask_app:app", "/exe=interp_apps:executable_app", "--python", PythonHost.PythonExecutable, "-w", workers, "-b", $"127.0.0.1:{port}");
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TestHost.Wait };
        await gateway.WaitUntilAnsweringAsync(client, "/");

        Assert.Equal("Hello from Flask", await client.GetStringAsync("/"));
        var running = (await client.GetStringAsync("/exe")).Split('\n');
        Assert.Equal(await AskAsync(PythonHost.PythonExecutable, "import sys; print(sys.executable)"), running[0]);
        Assert.Equal(await AskAsync(PythonHost.PythonExecutable, "import sys; print(sys.prefix)"), running[1]);
    }

    [Fact]
    public async Task In_process_mode_says_when_the_interpreter_has_no_shared_libpython()
    {
        // An interpreter as a static build answers sysconfig (Py_ENABLE_SHARED 0), faked by a script.
        var folder = Directory.CreateTempSubdirectory("adapter-static-python-").FullName;
        var python = Path.Combine(folder, "python3");
        await File.WriteAllTextAsync(python, """
            #!/bin/sh
            echo '{"executable": "/opt/static/bin/python3.12", "version": "3.12.1", "shared": false, "libdir": "/opt/static/lib", "libpl": null, "multiarch": null, "names": ["libpython3.12.a"], "base_prefix": "/opt/static"}'
            """);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(python, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        try
        {
            await using var gateway = GatewayProcess.Start("interp_apps:executable_app", "--python", python, "-w", "0", "-b", $"127.0.0.1:{GatewayProcess.FreePort()}");
            var code = await gateway.WaitForExitAsync(TestHost.Wait);

            Assert.True(code == 3, $"Exit code {code}:\n{gateway.Transcript}");
            var line = gateway.Error.Last(l => l.Length > 0);
            Assert.Contains("Python 3.12.1 (/opt/static/bin/python3.12) was built without a shared libpython", line, StringComparison.Ordinal);
            Assert.Contains("--python", line, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task<string> AskAsync(string python, string code)
    {
        using var process = Process.Start(new ProcessStartInfo(python, ["-c", code]) { RedirectStandardOutput = true, UseShellExecute = false })!;
        var output = await process.StandardOutput.ReadToEndAsync().WaitAsync(TestHost.Wait);
        await process.WaitForExitAsync().WaitAsync(TestHost.Wait);
        return output.Trim();
    }
}

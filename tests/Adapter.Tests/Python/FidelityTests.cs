using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Adapter.Tests.Python;

/// <summary>
/// Issue 13, Python fidelity (pyapps/fidelity_apps.py): what a WSGI app sees and what the host logs and answers
/// match the Python servers, in-process (0) and in worker processes (1). The tests that count Python's log
/// records are in <see cref="LoggingFidelityTests"/>.
/// </summary>
public sealed class FidelityTests
{
    [PythonTheory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task One_wsgi_errors_write_of_several_lines_is_one_log_entry_and_an_unended_line_is_logged_at_the_end(int processes)
    {
        await using var host = await PythonHost.StartAsync("fidelity_apps:errors_app", PythonHost.Mode(processes));

        Assert.Equal("written", await host.Client.GetStringAsync("/"));

        var tail = await host.Logs.WaitForAsync(static e => e.Is(8) && e.Message.Contains("tail without a newline", StringComparison.Ordinal));
        var traceback = Assert.Single(host.Logs.Entries, static e => e.Message.Contains("multi-line errors text", StringComparison.Ordinal));
        Assert.True(traceback.Is(8), $"{traceback.Category}[{traceback.EventId.Id}]");
        Assert.Contains("Traceback (most recent call last):", traceback.Message, StringComparison.Ordinal);
        Assert.Contains("line 1, in <module>", traceback.Message, StringComparison.Ordinal);
        Assert.Contains("    fail()", traceback.Message, StringComparison.Ordinal);
        Assert.Contains("line 2, in fail", traceback.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("multi-line errors text", tail.Message, StringComparison.Ordinal);
    }

    [PythonTheory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Failure_inside_the_iterable_has_a_traceback_naming_real_files(int processes)
    {
        await using var host = await PythonHost.StartAsync("fidelity_apps:failing_iterable_app", PythonHost.Mode(processes));

        using var response = await host.Client.GetAsync("/");
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);

        var failed = await host.Logs.WaitForAsync(static e => e.Is(1));
        var text = failed.Message + "\n" + failed.Exception?.Message;
        Assert.Contains("fidelity failure in the iterable", text, StringComparison.Ordinal);
        Assert.DoesNotContain("File \"none\"", text, StringComparison.Ordinal);

        // The app's own frame; in a worker process the bridge's too (in-process the iterable is walked from C).
        Assert.Contains("fidelity_apps.py\", line", text, StringComparison.Ordinal);
        if (processes > 0)
        {
            Assert.Contains("adapter_bridge.py", text, StringComparison.Ordinal);
        }
    }

    [PythonTheory]
    [InlineData(0, true)]
    [InlineData(1, true)]
    [InlineData(0, false)]
    [InlineData(1, false)]
    public async Task Body_over_the_limit_is_413_before_the_app_when_declared_or_spooled_and_an_OSError_in_the_app_when_streamed(int processes, bool spool)
    {
        var declared = Path.Combine(Path.GetTempPath(), $"adapter-fidelity-{Guid.NewGuid():N}");
        var chunked = Path.Combine(Path.GetTempPath(), $"adapter-fidelity-{Guid.NewGuid():N}");
        await using var host = await PythonHost.StartAsync(
            static (app, python) => app.UseGatewayApp(python.Load("fidelity_apps:recording_input_app")),
            PythonHost.Mode(processes),
            // No body read ahead of the app: Kestrel's limit would then refuse the declared body by itself.
            gateway: o =>
            {
                o.RequestBufferSize = 0;
                o.RequestSpoolLimit = spool ? 1 << 20 : 0;
            },
            builder: static b => b.WebHost.ConfigureKestrel(static k => k.Limits.MaxRequestBodySize = 1000));
        try
        {
            using (var response = await host.Client.PostAsync($"/?record={Uri.EscapeDataString(declared)}", new ByteArrayContent(new byte[5000])))
            {
                Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
            }

            Assert.False(File.Exists(declared), "The app was called for a declared body over the limit.");

            using var content = new StreamContent(new MemoryStream(new byte[5000]));
            content.Headers.ContentLength = null;
            using (var response = await host.Client.PostAsync($"/?record={Uri.EscapeDataString(chunked)}", content))
            {
                Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
            }

            if (spool)
            {
                // The spool read the chunked body before the app, and met the limit there.
                Assert.False(File.Exists(chunked), "The app was called for a spooled body over the limit.");
                return;
            }

            var recorded = await File.ReadAllTextAsync(chunked);
            Assert.StartsWith("called\nOSError: ", recorded, StringComparison.Ordinal);
            Assert.Contains("body", recorded.Split('\n')[1], StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            File.Delete(declared);
            File.Delete(chunked);
        }
    }

    [PythonTheory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Load_errors_name_sys_path_the_default_attribute_or_the_broken_file_and_a_factory_call_loads(int processes)
    {
        var folder = Directory.CreateTempSubdirectory("adapter-fidelity-");
        try
        {
            var module = $"fidelity_broken_{Guid.NewGuid():N}";
            var file = Path.Combine(folder.FullName, module + ".py");
            await File.WriteAllTextAsync(file, "def application(environ, start_response):\n    return [b'x'\n\nx = = 1\n");
            await using var host = await PythonHost.StartAsync(
                static (app, python) => app.UseGatewayApp(python.Load("fidelity_apps:create_app('hi', excited=True)")),
                o =>
                {
                    o.Processes = processes;
                    o.Paths.Add(folder.FullName);
                });
            var python = host.Services.GetRequiredService<PythonGateway>();

            Assert.Equal("hi!", await host.Client.GetStringAsync("/"));

            var missing = await LoadFailureAsync(python, "no_such_module_xyz");
            Assert.Contains("no_such_module_xyz", missing, StringComparison.Ordinal);
            Assert.Contains("sys.path", missing, StringComparison.Ordinal);

            var noApplication = await LoadFailureAsync(python, "fidelity_apps");
            Assert.Contains("'application'", noApplication, StringComparison.Ordinal);
            Assert.Contains("module:callable", noApplication, StringComparison.Ordinal);

            var broken = await LoadFailureAsync(python, module);
            Assert.Contains(file, broken, StringComparison.Ordinal);
            Assert.Contains("line 2", broken, StringComparison.Ordinal);
            Assert.Contains("SyntaxError", broken, StringComparison.Ordinal);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void Relative_path_resolves_under_the_content_root_when_there_else_under_the_app_folder()
    {
        var root = Directory.CreateTempSubdirectory("adapter-fidelity-root-");
        try
        {
            Directory.CreateDirectory(Path.Combine(root.FullName, "pyapps"));
            Assert.Equal(Path.Combine(root.FullName, "pyapps"), PythonGateway.Resolve("pyapps", root.FullName));

            // Not under this content root, but beside the app (the tests' pyapps is copied to the output folder).
            Directory.Delete(Path.Combine(root.FullName, "pyapps"));
            Assert.Equal(Path.Combine(AppContext.BaseDirectory, "pyapps"), PythonGateway.Resolve("pyapps", root.FullName));

            // In neither: the content root, as written.
            Assert.Equal(Path.Combine(root.FullName, "nowhere"), PythonGateway.Resolve("nowhere", root.FullName));
            Assert.Equal("/abs/olute", PythonGateway.Resolve("/abs/olute", root.FullName));
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    [PythonTheory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Utf8_header_value_is_the_latin1_reading_of_its_bytes(int processes)
    {
        await using var host = await PythonHost.StartAsync("fidelity_apps:header_repr_app", PythonHost.Mode(processes));
        using var connection = host.Connect();

        await connection.SendAsync(Encoding.Latin1.GetBytes("GET / HTTP/1.1\r\nHost: localhost\r\nX-Utf8: caf").Concat("\u00E9"u8.ToArray()).Concat("\r\nConnection: close\r\n\r\n"u8.ToArray()).ToArray());
        var (head, body) = await connection.ReadResponseAsync();

        Assert.StartsWith("HTTP/1.1 200", head, StringComparison.Ordinal);
        Assert.Equal(@"'caf\xc3\xa9'", body);
    }

    [PythonTheory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Non_ascii_response_header_value_is_refused_in_python_start_response_not_a_500(int processes)
    {
        await using var host = await PythonHost.StartAsync("fidelity_apps:non_ascii_header_app", PythonHost.Mode(processes));

        using var response = await host.Client.GetAsync("/");
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("refused:", body, StringComparison.Ordinal);
        Assert.Contains("X-Name", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Non_ascii_response_header_value_is_refused_in_csharp_start_response_not_a_500()
    {
        await using var host = await TestHost.StartAsync(static (environ, startResponse) =>
        {
            try
            {
                startResponse("200 OK", [("X-Name", "caf\u00E9")]);
                return [Encoding.UTF8.GetBytes("accepted")];
            }
            catch (ArgumentException error)
            {
                startResponse("200 OK", [("Content-Type", "text/plain")]);
                return [Encoding.UTF8.GetBytes("refused: " + error.Message)];
            }
        });

        using var response = await host.Client.GetAsync("/");
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("refused:", body, StringComparison.Ordinal);
        Assert.Contains("X-Name", body, StringComparison.Ordinal);
    }

    [PythonTheory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Options_asterisk_gives_path_info_asterisk(int processes)
    {
        await using var host = await PythonHost.StartAsync("fidelity_apps:path_info_app", PythonHost.Mode(processes));
        using var connection = host.Connect();

        await connection.SendAsync("OPTIONS * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        var (head, body) = await connection.ReadResponseAsync();

        Assert.StartsWith("HTTP/1.1 200", head, StringComparison.Ordinal);
        Assert.Equal("*", body);
    }

    [PythonTheory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Server_software_names_the_adapter_and_kestrel(int processes)
    {
        await using var host = await PythonHost.StartAsync("fidelity_apps:server_software_app", PythonHost.Mode(processes));

        var software = await host.Client.GetStringAsync("/");

        Assert.StartsWith("Adapter/", software, StringComparison.Ordinal);
        Assert.Contains("Kestrel", software, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Header_bytes_that_are_not_utf8_are_answered_400_as_the_readme_documents()
    {
        var called = 0;
        await using var host = await TestHost.StartAsync((environ, startResponse) =>
        {
            Interlocked.Increment(ref called);
            startResponse("200 OK", []);
            return [];
        });
        using var connection = host.Connect();

        await connection.SendAsync(Encoding.Latin1.GetBytes("GET / HTTP/1.1\r\nHost: localhost\r\nX-Bad: \u00FF\u00FE\r\nConnection: close\r\n\r\n"));
        var (text, _) = await connection.ReadToEndAsync();

        Assert.StartsWith("HTTP/1.1 400", text, StringComparison.Ordinal);
        Assert.Equal(0, Volatile.Read(ref called));
        Assert.Contains("| header bytes that are not valid UTF-8 | 400 |", await File.ReadAllTextAsync(Path.Combine(RepositoryRoot, "README.md")), StringComparison.Ordinal);
    }

    [PythonFact]
    public async Task Skipped_tests_are_listed_with_their_full_name_and_reason_and_a_missing_package_names_the_interpreter()
    {
        XNamespace t = "http://microsoft.com/schemas/VisualStudio/TeamTest/2010";
        var trx = new XDocument(new XElement(t + "TestRun",
            new XElement(t + "TestDefinitions",
                new XElement(t + "UnitTest", new XAttribute("id", "id-1"), new XAttribute("name", "Skips_without_numpy"),
                    new XElement(t + "TestMethod", new XAttribute("className", "Some.Namespace.SomeTests"), new XAttribute("name", "Skips_without_numpy"))),
                new XElement(t + "UnitTest", new XAttribute("id", "id-2"), new XAttribute("name", "Runs"),
                    new XElement(t + "TestMethod", new XAttribute("className", "Some.Namespace.SomeTests"), new XAttribute("name", "Runs")))),
            new XElement(t + "Results",
                new XElement(t + "UnitTestResult", new XAttribute("testId", "id-1"), new XAttribute("testName", "Skips_without_numpy"), new XAttribute("outcome", "NotExecuted"),
                    new XElement(t + "Output", new XElement(t + "ErrorInfo", new XElement(t + "Message", "The Python package 'numpy'\n  is not installed.")))),
                new XElement(t + "UnitTestResult", new XAttribute("testId", "id-2"), new XAttribute("testName", "Runs"), new XAttribute("outcome", "Passed")))));
        var file = Path.Combine(Path.GetTempPath(), $"adapter-fidelity-{Guid.NewGuid():N}.trx");
        trx.Save(file);
        try
        {
            using var process = Process.Start(new ProcessStartInfo(PythonHost.PythonExecutable, [Path.Combine(RepositoryRoot, ".ci", "skipped.py"), file])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            })!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().WaitAsync(TestHost.Wait);

            Assert.True(process.ExitCode == 0, await error);
            Assert.Equal("Some.Namespace.SomeTests.Skips_without_numpy\tThe Python package 'numpy' is not installed.\n", await output);
        }
        finally
        {
            File.Delete(file);
        }

        var reason = PythonAvailability.Missing(["no_such_package_xyz"]);
        Assert.NotNull(reason);
        Assert.Contains("no_such_package_xyz", reason, StringComparison.Ordinal);
        // "… is not installed for /usr/bin/python3.11 (Debian: …)": the whole path, dots included.
        var interpreter = Regex.Match(reason, @"for (/\S+) \(").Groups[1].Value;
        Assert.True(File.Exists(interpreter), $"No interpreter path in: {reason}");
    }

    [Fact]
    public void Readme_names_the_three_packages_and_each_project_is_one_of_them_or_the_tool()
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot, "README.md"));
        string[] packages = ["Adapter", "Adapter.Extensions", "Adapter.Python"];
        foreach (var package in packages)
        {
            Assert.Contains($"`{package}`", readme, StringComparison.Ordinal);
        }

        Assert.Contains("using Adapter;", readme, StringComparison.Ordinal);
        Assert.Contains("`Adapter.Cli`", readme, StringComparison.Ordinal);

        // Besides the three libraries, src holds the gateway command, a .NET tool (Adapter.Cli) and no library.
        var projects = Directory.GetFiles(Path.Combine(RepositoryRoot, "src"), "*.csproj", SearchOption.AllDirectories);
        Assert.NotEmpty(projects);
        Assert.All(projects, project =>
        {
            var document = XDocument.Load(project);
            var id = document.Descendants("PackageId").SingleOrDefault()?.Value ?? Path.GetFileNameWithoutExtension(project);
            if (document.Descendants("PackAsTool").SingleOrDefault()?.Value == "true")
            {
                Assert.Equal("Adapter.Cli", id);
            }
            else
            {
                Assert.Contains(id, packages);
            }
        });
    }

    /// <summary>The folder holding Adapter.sln, found from the test's output folder.</summary>
    internal static string RepositoryRoot
    {
        get
        {
            for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "Adapter.sln")))
                {
                    return directory.FullName;
                }
            }

            throw new InvalidOperationException($"No Adapter.sln above {AppContext.BaseDirectory}.");
        }
    }

    private static async Task<string> LoadFailureAsync(PythonGateway python, string target)
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => Task.Run(() => python.Load(target)).WaitAsync(TestHost.Wait));
        return error.Message;
    }
}

/// <summary>
/// Python's log records reach ILogger, and a failure is logged once. In-process CPython is one per test run and
/// its records go to the gateway started last, so these run alone, never beside another host.
/// </summary>
[Collection(nameof(TimingSensitive))]
public sealed class LoggingFidelityTests
{
    [PythonTheory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Python_logging_print_and_stderr_reach_ilogger_under_python_categories(int processes)
    {
        await using var host = await PythonHost.StartAsync(
            static (app, python) =>
            {
                app.MapGatewayApp("/log", python.Load("fidelity_apps:logging_app"));
                app.MapGatewayApp("/basic", python.Load("fidelity_basic_config"));
            },
            PythonHost.Mode(processes));

        Assert.Equal("logged", await host.Client.GetStringAsync("/log"));
        Assert.Equal("ok", await host.Client.GetStringAsync("/basic/here"));

        var warning = await host.Logs.WaitForAsync(static e => e.Category == "Python.fidelity.app" && e.Message.Contains("careful x", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Warning, warning.Level);

        var error = await host.Logs.WaitForAsync(static e => e.Category == "Python.fidelity.app" && e.Message.Contains("boom", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Error, error.Level);
        Assert.Contains("Traceback", error.Message, StringComparison.Ordinal);
        Assert.Contains("RuntimeError: fidelity failure", error.Message, StringComparison.Ordinal);

        var printed = await host.Logs.WaitForAsync(static e => e.Category == "Python.stdout" && e.Message == "hello from print");
        Assert.Equal(LogLevel.Information, printed.Level);

        var stderr = await host.Logs.WaitForAsync(static e => e.Category == "Python.stderr" && e.Message == "to stderr");
        Assert.Equal(LogLevel.Warning, stderr.Level);

        var info = await host.Logs.WaitForAsync(static e => e.Category == "Python.fidelity.basic" && e.Message.Contains("request for /here", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Information, info.Level);
    }

    [PythonTheory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task App_failure_is_logged_once_with_one_traceback(int processes)
    {
        await using var host = await PythonHost.StartAsync("fidelity_apps:key_error_app", PythonHost.Mode(processes));

        using var response = await host.Client.GetAsync("/");
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);

        await host.Logs.WaitForAsync(static e => e.Is(1));

        // A second logging of the failure would come through the app's stderr or the log before anything the app writes
        // later: once a sentinel line written to stderr after the failure is in, every copy of the failure is too.
        string[] WithTraceback() => [.. host.Logs.Entries.Select(static e => e.Message + "\n" + e.Exception).Where(static text => text.Contains("Traceback", StringComparison.Ordinal))];
        Assert.Equal("ok", await host.Client.GetStringAsync("/sentinel"));
        await host.Logs.WaitForAsync(static e => e.Message.Contains("fidelity sentinel", StringComparison.Ordinal));

        var withTraceback = WithTraceback();
        var only = Assert.Single(withTraceback);
        Assert.Single(Regex.Matches(only, Regex.Escape("Traceback (most recent call last)")));
        Assert.Contains("fidelity_missing_key", only, StringComparison.Ordinal);
    }
}

using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Adapter.Tests.Python;

/// <summary>
/// Issue 19: an app owns its stdio as under gunicorn (<c>sys.stdout.buffer</c>, <c>fileno()</c>, faulthandler), and
/// what it writes to fd 1 and 2 reaches the host's log one entry per write burst (pyapps/stdio_apps.py,
/// stdio_bytes_apps.py), in-process (0) and in worker processes (1). In-process output goes to the gateway started last, so these run alone.
/// </summary>
[Collection(nameof(TimingSensitive))]
public sealed class StdioTests
{
    [PythonTheory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task App_with_faulthandler_and_bytes_on_stdout_buffer_boots_and_its_bytes_reach_the_log(int processes)
    {
        await using var host = await PythonHost.StartAsync("stdio_bytes_apps:bytes_app", PythonHost.Mode(processes));
        var marker = Guid.NewGuid().ToString("N");

        Assert.Equal("fileno 1 2, faulthandler True", await host.Client.GetStringAsync($"/?{marker}"));

        // Writes moments apart (the import's and the request's, when the host starts fast) may share an entry.
        var bytes = await host.Logs.WaitForAsync(e => e.Category == "Python.stdout" && e.Message.Split('\n').Contains($"bytes from the app {marker}"));
        Assert.Equal(LogLevel.Information, bytes.Level);
        var raw = await host.Logs.WaitForAsync(e => e.Category == "Python.stderr" && e.Message.Split('\n').Contains($"fd 2 from the app {marker}"));
        Assert.Equal(LogLevel.Warning, raw.Level);
    }

    [PythonFact]
    public async Task Host_console_output_is_not_read_back_as_python_output_in_process()
    {
        await using var host = await PythonHost.StartAsync("stdio_bytes_apps:bytes_app", PythonHost.Mode(0));
        var marker = Guid.NewGuid().ToString("N");

        // After CPython took fd 1 and 2: .NET's console still writes where it wrote before.
        Console.Out.WriteLine($"console out {marker}");
        Console.Error.WriteLine($"console error {marker}");
        Assert.Equal("fileno 1 2, faulthandler True", await host.Client.GetStringAsync($"/?{marker}"));

        // The app's fd 2 write comes after the console's writes: once it is logged, a copy of those would be too.
        await host.Logs.WaitForAsync(e => e.Category == "Python.stderr" && e.Message.Contains($"fd 2 from the app {marker}", StringComparison.Ordinal));
        Assert.DoesNotContain(host.Logs.Entries, e => IsPython(e) && e.Message.Contains("console", StringComparison.Ordinal) && e.Message.Contains(marker, StringComparison.Ordinal));
    }

    [PythonFact]
    public async Task Worker_crash_report_quotes_the_faulthandler_dump()
    {
        await using var host = await PythonHost.StartAsync("stdio_bytes_apps:segfault_app", PythonHost.Mode(1));

        using var response = await host.Client.GetAsync("/");
        Assert.Equal(System.Net.HttpStatusCode.BadGateway, response.StatusCode);

        var crashed = await host.Logs.WaitForAsync(static e => e.Category == "Adapter.Python" && e.EventId.Id == 108);
        Assert.Contains("Fatal Python error: Segmentation fault", crashed.Message, StringComparison.Ordinal);
        Assert.Contains("in segfault_app", crashed.Message, StringComparison.Ordinal);
    }

    [PythonTheory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Traceback_printed_line_by_line_to_stderr_is_one_log_entry(int processes)
    {
        await using var host = await PythonHost.StartAsync("stdio_apps:traceback_app", PythonHost.Mode(processes));
        var marker = Guid.NewGuid().ToString("N");

        Assert.Equal("printed", await host.Client.GetStringAsync($"/?{marker}"));

        var entry = await host.Logs.WaitForAsync(e => e.Category == "Python.stderr" && e.Message.Contains($"ValueError: stdio traceback {marker}", StringComparison.Ordinal));
        Assert.StartsWith("Traceback (most recent call last):", entry.Message, StringComparison.Ordinal);
        Assert.Contains("in traceback_app", entry.Message, StringComparison.Ordinal);
        Assert.Single(host.Logs.Entries, e => IsPython(e) && e.Message.Contains(marker, StringComparison.Ordinal));
    }

    [PythonTheory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Record_that_a_console_handler_also_writes_to_stderr_is_logged_once(int processes)
    {
        await using var host = await PythonHost.StartAsync("stdio_apps:django_style_app", PythonHost.Mode(processes));
        var marker = Guid.NewGuid().ToString("N");

        Assert.Equal("warned", await host.Client.GetStringAsync($"/?{marker}"));

        var record = await host.Logs.WaitForAsync(e => e.Category == "Python.stdio.django" && e.Message.Contains(marker, StringComparison.Ordinal));
        Assert.Equal(LogLevel.Warning, record.Level);

        // The copy through stderr would arrive within a burst of the record: watch for it for 500 ms.
        var deadline = DateTime.UtcNow + TimeSpan.FromMilliseconds(500);
        while (DateTime.UtcNow < deadline && host.Logs.Entries.Count(e => IsPython(e) && e.Message.Contains(marker, StringComparison.Ordinal)) < 2)
        {
            await Task.Delay(50);
        }

        Assert.Single(host.Logs.Entries, e => IsPython(e) && e.Message.Contains(marker, StringComparison.Ordinal));
    }

    /// <summary>Python's output and records; the host's own request lines also hold the marker (in the query).</summary>
    private static bool IsPython(LogEntry entry) => entry.Category.StartsWith("Python.", StringComparison.Ordinal);
}

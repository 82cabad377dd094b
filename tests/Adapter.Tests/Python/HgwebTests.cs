using System.Diagnostics;

namespace Adapter.Tests.Python;

/// <summary>
/// Issue 19: Mercurial's hgweb (Debian's <c>mercurial</c>), which takes <c>sys.stdout.buffer</c> at import, serves
/// <c>hg clone</c> through the adapter in both modes.
/// </summary>
public sealed class HgwebTests
{
    [HgTheory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Hgweb_serves_hg_clone(int processes)
    {
        var folder = Directory.CreateTempSubdirectory("adapter-hg-");
        try
        {
            var repository = Path.Combine(folder.FullName, "repo");
            await HgAsync(folder.FullName, "init", repository);
            await File.WriteAllTextAsync(Path.Combine(repository, "hello.txt"), "hello from hg\n");
            await HgAsync(repository, "commit", "-A", "-m", "first", "-u", "test <test@example.com>");

            await using var host = await PythonHost.StartAsync($"hg_apps:create('{repository}')", PythonHost.Mode(processes));
            var clone = Path.Combine(folder.FullName, "clone");
            await HgAsync(folder.FullName, "clone", host.Address.ToString(), clone);

            Assert.Equal("hello from hg\n", await File.ReadAllTextAsync(Path.Combine(clone, "hello.txt")));
            Assert.Equal("first", (await HgAsync(clone, "log", "-r", "tip", "-T", "{desc}")).Trim());
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    /// <summary>Runs hg with no user configuration; its output, or the test fails with its stderr.</summary>
    private static async Task<string> HgAsync(string directory, params string[] arguments)
    {
        var start = new ProcessStartInfo(HgTheoryAttribute.Hg, arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["HGPLAIN"] = "1";
        start.Environment["HGRCPATH"] = "";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TestHost.Wait);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        Assert.True(process.ExitCode == 0, $"hg {string.Join(' ', arguments)} exited {process.ExitCode}: {await error}");
        return await output;
    }
}

/// <summary>A theory that needs Mercurial: the <c>hg</c> command and its Python package; skipped with the reason otherwise.</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class HgTheoryAttribute : TheoryAttribute
{
    public const string Hg = "/usr/bin/hg";

    public HgTheoryAttribute()
    {
        Skip = !File.Exists(Hg)
            ? $"Mercurial is not installed ({Hg} is missing; Debian: apt-get install mercurial)."
            : PythonAvailability.Missing(["mercurial"]) is { } missing ? $"Mercurial's Python package is missing (Debian: apt-get install mercurial): {missing}" : null;
    }
}

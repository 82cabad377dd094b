using System.Diagnostics;
using Adapter.Tests.Python;

namespace Adapter.Tests.Cli;

/// <summary>
/// A virtualenv of Debian's Python made with <c>--without-pip</c> and no system site packages: an interpreter that
/// runs but lacks the apps' packages (Flask), as a pyenv <c>python3</c> or another project's virtualenv first on
/// <c>PATH</c> does on a real machine. Removed after the tests.
/// </summary>
public sealed class BareVirtualenv : IDisposable
{
    public BareVirtualenv()
    {
        Root = Directory.CreateTempSubdirectory("adapter-bare-venv-").FullName;
        using var process = Process.Start(new ProcessStartInfo(PythonHost.PythonExecutable, ["-m", "venv", "--without-pip", Root])
        {
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)) || process.ExitCode != 0)
        {
            throw new InvalidOperationException($"Cannot make a virtualenv in {Root}: {error.Result}");
        }
    }

    /// <summary>The virtualenv's folder (its <c>VIRTUAL_ENV</c>).</summary>
    public string Root { get; }

    /// <summary>Its <c>bin</c> folder, to put first on a <c>PATH</c>.</summary>
    public string Bin => Path.Combine(Root, "bin");

    /// <summary>A <c>PATH</c> that starts with the virtualenv's <c>python3</c>.</summary>
    public string PathFirst => $"{Bin}:{Environment.GetEnvironmentVariable("PATH")}";

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

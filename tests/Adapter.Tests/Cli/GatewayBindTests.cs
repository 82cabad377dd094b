using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Adapter.Tests.Python;

namespace Adapter.Tests.Cli;

/// <summary>
/// Issue 19, items 4 and 6: unix sockets made with mode <c>0777 &amp; ~umask</c> (gunicorn's default umask is 0) over a
/// stale socket file left by a crash; an address already in use (a port, a live unix socket) is one line and exit 1
/// before any worker process starts.
/// </summary>
public sealed class GatewayBindTests
{
    [PythonTheory]
    [InlineData(null, "777")]
    [InlineData("0o027", "750")]
    [InlineData("0022", "755")]
    public async Task A_unix_socket_replaces_a_stale_socket_file_and_has_the_mode_of_the_umask(string? umask, string mode)
    {
        var path = Path.Combine(Path.GetTempPath(), $"adapter-cli-{Guid.NewGuid():N}.sock");
        try
        {
            // What a crashed server leaves: a socket file nothing listens on (Python's close leaves the file).
            using (var python = Process.Start(PythonHost.PythonExecutable, ["-c", $"import socket; s = socket.socket(socket.AF_UNIX); s.bind({PythonString(path)}); s.close()"]))
            {
                Assert.True(python.WaitForExit(TestHost.Wait) && python.ExitCode == 0);
            }

            Assert.True(File.Exists(path));
            string[] arguments = ["cli_apps:hello_app", "--workers", "1", "-b", $"unix:{path}", .. umask is null ? [] : (string[])["--umask", umask]];
            await using var gateway = GatewayProcess.Start(arguments);
            using var client = UnixClient(path);
            await gateway.WaitUntilAnsweringAsync(client, "/");

            Assert.Equal("hello from cli_apps", await client.GetStringAsync("/"));
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(Convert.ToInt32(mode, 8), (int)File.GetUnixFileMode(path));
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [PythonTheory]
    [InlineData("port")]
    [InlineData("unix socket")]
    public async Task An_address_in_use_is_one_line_and_exit_1_before_any_worker_starts(string kind)
    {
        var mark = Path.Combine(Path.GetTempPath(), $"adapter-cli-imported-{Guid.NewGuid():N}");
        var path = Path.Combine(Path.GetTempPath(), $"adapter-cli-{Guid.NewGuid():N}.sock");
        using var holder = kind == "port" ? new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) : new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        holder.Bind(kind == "port" ? new IPEndPoint(IPAddress.Loopback, 0) : new UnixDomainSocketEndPoint(path));
        holder.Listen();
        var bind = kind == "port" ? $"127.0.0.1:{((IPEndPoint)holder.LocalEndPoint!).Port}" : $"unix:{path}";
        try
        {
            await using var gateway = GatewayProcess.Start(
                new Dictionary<string, string> { ["ADAPTER_CLI_IMPORT_MARK"] = mark }, "cli_apps:hello_app", "--workers", "1", "-b", bind);
            var code = await gateway.WaitForExitAsync(TestHost.Wait);

            Assert.True(code == 1, $"Exit code {code}:\n{gateway.Transcript}");
            var line = Assert.Single(gateway.Error, l => l.Length > 0);
            Assert.StartsWith($"gateway: cannot bind {bind}: ", line, StringComparison.Ordinal);
            Assert.False(File.Exists(mark), $"A worker imported the app (pids {(File.Exists(mark) ? File.ReadAllText(mark) : "")}):\n{gateway.Transcript}");
            Assert.True(kind == "port" || File.Exists(path), "The live socket's file was removed.");
        }
        finally
        {
            File.Delete(mark);
            File.Delete(path);
        }
    }

    private static HttpClient UnixClient(string path)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler) { BaseAddress = new Uri("http://localhost"), Timeout = TestHost.Wait };
    }

    private static string PythonString(string text) => "'" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";
}

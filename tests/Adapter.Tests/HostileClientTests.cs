using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Adapter.Tests.Python;
using Microsoft.AspNetCore.Builder;
using Xunit.Abstractions;

namespace Adapter.Tests;

/// <summary>
/// Clients that stop reading or sending cost a connection, never a worker (SPEC §7, the spools): with every
/// worker's worth of them connected, a well-behaved client is still served at once, in the C# pool and in both
/// Python modes.
/// </summary>
/// <remarks><c>tests/hostile-clients.sh N</c> runs the same scenarios with N hostile clients each (HOSTILE_CLIENTS) and prints the latencies.</remarks>
[Collection(nameof(TimingSensitive))]
public sealed class HostileClientTests(ITestOutputHelper output)
{
    private const int Workers = 2;

    private static int? Clients => int.TryParse(Environment.GetEnvironmentVariable("HOSTILE_CLIENTS"), out var clients) ? clients : null;

    // Without the spools these requests wait for ClientTimeout (10 s) or Kestrel's body rate (5 s grace); the
    // bound leaves room for a loaded 2-core machine. tests/hostile-clients.sh measures the real latencies.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(3);

    public enum Server
    {
        CSharp,
        PythonInProcess,
        PythonProcesses,
    }

    [Theory]
    [InlineData(Server.CSharp, true)]
    [InlineData(Server.CSharp, false)]
    public Task Well_behaved_client_is_served_beside_clients_that_never_read_or_trickle_their_uploads(Server server, bool nonReaders) =>
        RunAsync(server, nonReaders);

    [PythonTheory]
    [InlineData(Server.PythonInProcess, true)]
    [InlineData(Server.PythonInProcess, false)]
    [InlineData(Server.PythonProcesses, true)]
    [InlineData(Server.PythonProcesses, false)]
    public Task Well_behaved_client_is_served_beside_python_clients_that_never_read_or_trickle_their_uploads(Server server, bool nonReaders) =>
        RunAsync(server, nonReaders);

    private async Task RunAsync(Server server, bool nonReaders)
    {
        await using var host = await StartAsync(server);
        var hostile = new List<TcpClient>();
        try
        {
            if (nonReaders)
            {
                // Twice as many clients as workers, each asking for 64 MiB and reading none of it.
                for (var i = 0; i < (Clients ?? 2 * Workers); i++)
                {
                    var client = await ConnectAsync(host.Port);
                    hostile.Add(client);
                    await client.GetStream().WriteAsync("GET /huge HTTP/1.1\r\nHost: h\r\n\r\n"u8.ToArray()).AsTask().WaitAsync(TestHost.Wait);
                }
            }
            else
            {
                // Four times as many uploaders as workers, each declaring 1 MB and sending a byte now and then.
                for (var i = 0; i < (Clients ?? 4 * Workers); i++)
                {
                    var client = await ConnectAsync(host.Port);
                    hostile.Add(client);
                    await client.GetStream().WriteAsync("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\nx"u8.ToArray()).AsTask().WaitAsync(TestHost.Wait);
                }
            }

            using var trickle = new CancellationTokenSource();
            var trickling = nonReaders ? Task.CompletedTask : TrickleAsync(hostile, trickle.Token);

            // One request every 0.25 s for 2 s, each on a new connection, as a health probe or a user would.
            var times = new List<TimeSpan>();
            for (var i = 0; i < 8; i++)
            {
                var started = Stopwatch.GetTimestamp();
                using var cancel = new CancellationTokenSource(TestHost.Wait);
                using var client = new HttpClient { BaseAddress = host.Address };
                Assert.Equal("ok", await client.GetStringAsync("/small", cancel.Token));
                var took = Stopwatch.GetElapsedTime(started);
                times.Add(took);
                await Task.Delay(TimeSpan.FromMilliseconds(250) - (took < TimeSpan.FromMilliseconds(250) ? took : TimeSpan.FromMilliseconds(250)));
            }

            await trickle.CancelAsync();
            await trickling;
            var slowest = times.Max();
            output.WriteLine(
                $"hostile-clients {server}, {hostile.Count} {(nonReaders ? "clients reading no 64 MiB response" : "uploaders at 1 byte/s")}: " +
                $"8 well-behaved requests, slowest {slowest.TotalMilliseconds:F0} ms, median {times.Order().ElementAt(4).TotalMilliseconds:F0} ms");
            Assert.True(slowest <= Bound, $"The slowest well-behaved request took {slowest.TotalMilliseconds:F0} ms.");
        }
        finally
        {
            foreach (var client in hostile)
            {
                client.Dispose();
            }
        }
    }

    private static async Task TrickleAsync(List<TcpClient> uploaders, CancellationToken cancel)
    {
        try
        {
            while (true)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancel);
                foreach (var uploader in uploaders)
                {
                    await uploader.GetStream().WriteAsync("x"u8.ToArray(), cancel);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // Stopped by the test, or Kestrel dropped an uploader for its data rate.
        }
    }

    private static async Task<TcpClient> ConnectAsync(int port)
    {
        var client = new TcpClient { ReceiveBufferSize = 4 * 1024 };
        await client.ConnectAsync(IPAddress.Loopback, port).WaitAsync(TestHost.Wait);
        return client;
    }

    private static Task<TestHost> StartAsync(Server server) => server switch
    {
        Server.CSharp => TestHost.StartAsync(static (environ, start) => Route(environ, start), static o => o.WorkerThreads = Workers),
        _ => PythonHost.StartAsync(
            static (web, python) => web.UseGatewayApp(python.Load("hostile_apps:app")),
            o =>
            {
                o.Processes = server == Server.PythonProcesses ? Workers : 0;
                o.Threads = Workers;
            }),
    };

    private static IEnumerable<byte[]> Route(IDictionary<string, object?> environ, StartResponse start)
    {
        switch ((string)environ["PATH_INFO"]!)
        {
            case "/huge":
                start("200 OK", [("Content-Length", (1024 * 65536).ToString(System.Globalization.CultureInfo.InvariantCulture))]);
                return Huge();
            case "/upload":
                var length = 0L;
                var buffer = new byte[65536];
                int read;
                while ((read = ((Stream)environ["wsgi.input"]!).Read(buffer)) > 0)
                {
                    length += read;
                }

                start("200 OK", []);
                return [Encoding.ASCII.GetBytes(length.ToString(System.Globalization.CultureInfo.InvariantCulture))];
            default:
                start("200 OK", []);
                return ["ok"u8.ToArray()];
        }
    }

    private static IEnumerable<byte[]> Huge()
    {
        var chunk = new byte[65536];
        for (var i = 0; i < 1024; i++)
        {
            yield return chunk;
        }
    }
}

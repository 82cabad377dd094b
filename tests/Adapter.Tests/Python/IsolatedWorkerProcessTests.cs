using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Adapter.Tests.Python;

/// <summary>
/// The worker-process tests that measure time or memory (a request timeout, the host's resident set) or kill a
/// host, run alone so that other tests' load does not skew them.
/// </summary>
[Collection(nameof(TimingSensitive))]
public sealed class IsolatedWorkerProcessTests
{
    private const int Block = 65536;
    private const int Blocks = 16384; // 1 GiB
    private const long RssLimitKiB = 32 * 1024;
    private static readonly byte[] Pattern = [.. Enumerable.Range(0, Block).Select(static i => (byte)(i % 251))];

    [PythonFact]
    public async Task Spinning_app_is_answered_504_and_its_worker_killed_and_replaced()
    {
        var pidFile = Path.Combine(Path.GetTempPath(), $"adapter-spin-{Guid.NewGuid():N}");
        await using var host = await PythonHost.StartAsync(
            static (app, python) =>
            {
                app.MapGatewayApp("/spin", python.Load("worker_apps:spin_app"));
                app.MapGatewayApp("/pid", python.Load("worker_apps:pid_app"));
            },
            PythonHost.Mode(1),
            gateway: static o => o.RequestTimeout = TimeSpan.FromSeconds(2));
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>());
        try
        {
            var clock = Stopwatch.StartNew();
            using (var spinning = await host.Client.GetAsync($"/spin?pidfile={Uri.EscapeDataString(pidFile)}"))
            {
                Assert.Equal(HttpStatusCode.GatewayTimeout, spinning.StatusCode);
            }

            Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1.9), TimeSpan.FromSeconds(5));

            // SIGTERM at the timeout, SIGKILL a second later: Python's handler cannot stop a bare loop.
            var pid = int.Parse(await File.ReadAllTextAsync(pidFile), System.Globalization.CultureInfo.InvariantCulture);
            Assert.Empty(await ProcessTable.WaitUntilGoneAsync([pid], TimeSpan.FromSeconds(10)));

            using var next = await host.Client.GetAsync("/pid");
            Assert.Equal(HttpStatusCode.OK, next.StatusCode);
            Assert.NotEqual(pid, WorkerProcessTests.Pid(await next.Content.ReadAsStringAsync()));
            await metrics.WaitUntilAsync(static m => m.Sum("gateway.worker_process.restarts|gateway.restart.reason=timeout") == 1);
            Assert.Equal(0, metrics.Sum("gateway.worker_process.restarts|gateway.restart.reason=crash"));
        }
        finally
        {
            File.Delete(pidFile);
        }
    }

    [PythonFact]
    public async Task Sigkill_of_the_host_leaves_no_worker_behind_even_one_spinning_in_an_app()
    {
        var pidFile = Path.Combine(Path.GetTempPath(), $"adapter-spin-{Guid.NewGuid():N}");
        try
        {
            await using var host = await SampleHostProcess.StartAsync(
                "/pid/", "--environment=Production", "--PythonGateway:Processes=2", "--PythonApps:/pid=worker_apps:pid_app", "--PythonApps:/spin=worker_apps:spin_app");
            var spinning = host.Client.GetAsync($"/spin/?pidfile={Uri.EscapeDataString(pidFile)}");
            var deadline = DateTime.UtcNow + TestHost.Wait;
            while (!File.Exists(pidFile))
            {
                Assert.True(DateTime.UtcNow < deadline, $"The spinning app never started:\n{host.Output}");
                await Task.Delay(20);
            }

            var spinner = int.Parse(await File.ReadAllTextAsync(pidFile), System.Globalization.CultureInfo.InvariantCulture);
            var workers = host.Children();
            Assert.True(workers.Length >= 2, $"Workers: {string.Join(", ", workers)}");
            Assert.Contains(spinner, workers);

            host.Signal(SampleHostProcess.SigKill);
            await host.Process.WaitForExitAsync().WaitAsync(TestHost.Wait);
            await Assert.ThrowsAnyAsync<Exception>(() => spinning.WaitAsync(TestHost.Wait));

            // The spinning worker never reads its channel again: only its watch on its parent ends it.
            Assert.Empty(await ProcessTable.WaitUntilGoneAsync(workers, TimeSpan.FromSeconds(10)));
        }
        finally
        {
            File.Delete(pidFile);
        }
    }

    [PythonFact]
    public async Task Gigabyte_download_through_a_worker_keeps_the_host_resident_set_within_32_MiB()
    {
        await using var host = await SampleHostProcess.StartAsync(
            "/dl/?blocks=1", "--environment=Production", "--PythonGateway:Processes=1", "--PythonApps:/dl=worker_apps:download_app");

        // Warm: the code paths are compiled and the pools filled before the peak is reset.
        Assert.Equal(64L * Block, await DownloadAsync(host.Client, 64));

        host.ResetPeak();
        var before = host.StatusKiB("VmRSS");
        Assert.Equal((long)Blocks * Block, await DownloadAsync(host.Client, Blocks));
        var growth = host.StatusKiB("VmHWM") - before;

        Assert.True(growth <= RssLimitKiB, $"Peak RSS growth during the download: {growth} KiB (limit {RssLimitKiB} KiB).");
    }

    [PythonFact]
    public async Task Gigabyte_upload_through_a_worker_keeps_the_host_resident_set_within_32_MiB()
    {
        // In this process: the sample host keeps Kestrel's 30 MB body limit, and binds no Kestrel limits from
        // configuration. The client streams from one reused block, so the growth measured is the host's.
        await using var host = await PythonHost.StartAsync(
            static (app, python) => app.UseGatewayApp(python.Load("worker_apps:upload_app")),
            PythonHost.Mode(1),
            // Streamed through the worker's pipe as it arrives: the path whose memory this measures (a spooled body
            // sits in a file).
            gateway: static o => o.RequestSpoolLimit = 0,
            builder: static b => b.WebHost.ConfigureKestrel(static k => k.Limits.MaxRequestBodySize = null));
        await UploadAsync(host.Client, 64);

        File.WriteAllText("/proc/self/clear_refs", "5");
        var before = ProcessTable.StatusKiB(Environment.ProcessId, "VmRSS");
        await UploadAsync(host.Client, Blocks);
        var growth = ProcessTable.StatusKiB(Environment.ProcessId, "VmHWM") - before;

        Assert.True(growth <= RssLimitKiB, $"Peak RSS growth during the upload: {growth} KiB (limit {RssLimitKiB} KiB).");
    }

    /// <summary>Downloads <paramref name="blocks"/> blocks of worker_apps' test stream, checking every byte; the length read.</summary>
    private static async Task<long> DownloadAsync(HttpClient client, int blocks)
    {
        using var response = await client.GetAsync($"/dl/?blocks={blocks}", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[Block];
        var expected = new byte[Block];
        long position = 0;
        int read;
        while ((read = await body.ReadAsync(buffer).AsTask().WaitAsync(TestHost.Wait)) > 0)
        {
            var received = buffer.AsSpan(0, read);
            while (!received.IsEmpty)
            {
                var offset = (int)(position % Block);
                if (offset == 0)
                {
                    FillBlock(expected, position / Block);
                }

                var count = Math.Min(received.Length, Block - offset);
                Assert.True(received[..count].SequenceEqual(expected.AsSpan(offset, count)), $"The body differs from the test stream near byte {position}.");
                position += count;
                received = received[count..];
            }
        }

        return position;
    }

    /// <summary>Uploads <paramref name="blocks"/> blocks of the test stream; the app must count and hash them alike.</summary>
    private static async Task UploadAsync(HttpClient client, int blocks)
    {
        using var content = new BlockContent(blocks);
        using var response = await client.PostAsync("/", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"{(long)blocks * Block} {content.Sha256}", await response.Content.ReadAsStringAsync());
    }

    /// <summary>Block <paramref name="index"/> of worker_apps' test stream: the index as 8 big-endian bytes, then i % 251.</summary>
    private static void FillBlock(byte[] block, long index)
    {
        Pattern.CopyTo(block, 0);
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(block, index);
    }

    /// <summary>The test stream as a request body with a Content-Length, hashed as it is sent.</summary>
    private sealed class BlockContent(int blocks) : HttpContent
    {
        public string Sha256 { get; private set; } = "";

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var block = new byte[Block];
            for (var i = 0; i < blocks; i++)
            {
                FillBlock(block, i);
                hash.AppendData(block);
                await stream.WriteAsync(block);
            }

            Sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
        }

        protected override bool TryComputeLength(out long length)
        {
            length = (long)blocks * Block;
            return true;
        }
    }
}

using Microsoft.Extensions.DependencyInjection;

namespace Adapter.Tests;

public sealed class BackPressureTests
{
    [Fact]
    public async Task Slow_reader_holds_the_app_back()
    {
        const int chunkSize = 64 * 1024;
        const int chunks = 1024;
        const int responseBuffer = 256 * 1024;
        long produced = 0;
        await using var host = await TestHost.StartAsync((env, start) => Body(start), o => (o.ResponseBufferSize, o.ResponseSpoolLimit) = (responseBuffer, 0));
        using var raw = new System.Net.Sockets.TcpClient { ReceiveBufferSize = 64 * 1024 };
        await raw.ConnectAsync("127.0.0.1", host.Port).WaitAsync(TestHost.Wait);
        var stream = raw.GetStream();
        await stream.WriteAsync("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"u8.ToArray()).AsTask().WaitAsync(TestHost.Wait);

        // Read nothing until the app has produced nothing new for a whole second: it must stall within what the
        // adapter's buffer, Kestrel's 64 KiB response buffer and the two sockets' kernel buffers can hold.
        var deadline = DateTime.UtcNow + TestHost.Wait;
        var last = -1L;
        var steadySince = DateTime.UtcNow;
        while (DateTime.UtcNow < deadline && DateTime.UtcNow - steadySince < TimeSpan.FromSeconds(1))
        {
            await Task.Delay(50);
            var now = Interlocked.Read(ref produced);
            if (now != last)
            {
                last = now;
                steadySince = DateTime.UtcNow;
            }
        }

        var ahead = Interlocked.Read(ref produced) * chunkSize;
        var kernel = KernelBufferMax("tcp_wmem") + 2L * raw.ReceiveBufferSize;
        var bound = responseBuffer + 64 * 1024 + kernel + chunkSize;
        Assert.True(DateTime.UtcNow < deadline, "The app never stalled for a client that read nothing.");
        Assert.True(ahead <= bound, $"The app ran {ahead} bytes ahead of a client that read nothing; the bound is {bound}.");

        var body = await ReadChunkedBodyAsync(stream);
        Assert.Equal(chunks, Interlocked.Read(ref produced));
        Assert.Equal((long)chunks * chunkSize, body.Length);
        for (var i = 0; i < chunks; i++)
        {
            Assert.True(body.AsSpan(i * chunkSize, chunkSize).IndexOfAnyExcept((byte)(i % 251)) < 0, $"Chunk {i} came back wrong.");
        }

        IEnumerable<byte[]> Body(StartResponse start)
        {
            start("200 OK", []);
            for (var i = 0; i < chunks; i++)
            {
                Interlocked.Increment(ref produced);
                var chunk = new byte[chunkSize];
                Array.Fill(chunk, (byte)(i % 251));
                yield return chunk;
            }
        }
    }

    [Fact]
    public async Task Client_that_reads_nothing_no_longer_holds_the_app_once_the_response_spools_and_gets_every_byte_in_order_later()
    {
        const int chunkSize = 64 * 1024;
        const int chunks = 256;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(
            (env, start) => (string)env["PATH_INFO"]! == "/second" ? Second(start) : Body(start),
            o => (o.ResponseBufferSize, o.WorkerThreads) = (64 * 1024, 1));
        var budget = host.Services.GetRequiredService<GatewayWorkerPool>().SpoolBudget;
        using var raw = new System.Net.Sockets.TcpClient { ReceiveBufferSize = 64 * 1024 };
        await raw.ConnectAsync("127.0.0.1", host.Port).WaitAsync(TestHost.Wait);
        var stream = raw.GetStream();
        await stream.WriteAsync("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"u8.ToArray()).AsTask().WaitAsync(TestHost.Wait);

        // 16 MiB, far past every buffer between the app and the client: without the spool the app stalls.
        await done.Task.WaitAsync(TestHost.Wait);
        Assert.True(budget.Used > 8 * 1024 * 1024, $"Only {budget.Used} bytes were spooled.");

        // The one worker is free: a second request is served while the first client still reads nothing.
        Assert.Equal("second", await host.Client.GetStringAsync("/second"));

        var body = new MemoryStream();
        await stream.CopyToAsync(body).WaitAsync(TestHost.Wait);
        var text = body.ToArray();
        var received = text.AsSpan(text.AsSpan().IndexOf("\r\n\r\n"u8) + 4).ToArray();
        Assert.Equal((long)chunks * chunkSize, received.Length);
        for (var i = 0; i < chunks; i++)
        {
            Assert.True(received.AsSpan(i * chunkSize, chunkSize).IndexOfAnyExcept((byte)(i % 251)) < 0, $"Chunk {i} came back wrong.");
        }

        var deadline = DateTime.UtcNow + TestHost.Wait;
        while (budget.Used != 0 || budget.Files != 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"The spool still holds {budget.Used} bytes in {budget.Files} files after the response.");
            await Task.Delay(10);
        }

        static IEnumerable<byte[]> Second(StartResponse start)
        {
            start("200 OK", []);
            return ["second"u8.ToArray()];
        }

        IEnumerable<byte[]> Body(StartResponse start)
        {
            start("200 OK", [("Content-Length", ((long)chunks * chunkSize).ToString(System.Globalization.CultureInfo.InvariantCulture))]);
            for (var i = 0; i < chunks; i++)
            {
                var chunk = new byte[chunkSize];
                Array.Fill(chunk, (byte)(i % 251));
                yield return chunk;
            }

            done.TrySetResult();
        }
    }

    /// <summary>The largest buffer the kernel may give a socket (the third figure of /proc/sys/net/ipv4/NAME).</summary>
    private static long KernelBufferMax(string name)
    {
        var text = File.ReadAllText("/proc/sys/net/ipv4/" + name).Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        return long.Parse(text[2], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<byte[]> ReadChunkedBodyAsync(Stream stream)
    {
        var all = new MemoryStream();
        await stream.CopyToAsync(all).WaitAsync(TestHost.Wait * 2);
        var response = all.ToArray();
        var at = response.AsSpan().IndexOf("\r\n\r\n"u8) + 4;
        var body = new MemoryStream();
        while (true)
        {
            var lineEnd = response.AsSpan(at).IndexOf("\r\n"u8);
            var size = Convert.ToInt32(System.Text.Encoding.ASCII.GetString(response, at, lineEnd), 16);
            at += lineEnd + 2;
            if (size == 0)
            {
                return body.ToArray();
            }

            body.Write(response, at, size);
            at += size + 2;
        }
    }

    [Fact]
    public async Task Each_chunk_is_on_its_way_to_the_client_before_the_next_is_asked_for()
    {
        var clientSawFirst = new ManualResetEventSlim();
        await using var host = await TestHost.StartAsync((env, start) => Body(start));
        using var response = await host.Client.GetAsync("/", HttpCompletionOption.ResponseHeadersRead);
        var stream = await response.Content.ReadAsStreamAsync();
        var first = new byte[5];
        await stream.ReadExactlyAsync(first).AsTask().WaitAsync(TestHost.Wait);
        clientSawFirst.Set();
        var rest = await new StreamReader(stream).ReadToEndAsync().WaitAsync(TestHost.Wait);
        Assert.Equal("first", System.Text.Encoding.ASCII.GetString(first));
        Assert.Equal("second", rest);

        IEnumerable<byte[]> Body(StartResponse start)
        {
            start("200 OK", []);
            yield return Apps.Bytes("first");
            if (!clientSawFirst.Wait(TestHost.Wait))
            {
                throw new TimeoutException("The first chunk never reached the client.");
            }

            yield return Apps.Bytes("second");
        }
    }

    [Fact]
    public async Task Reused_chunk_array_is_safe_to_overwrite_after_yield()
    {
        // A slow, uneven reader keeps flushes pending, so chunks take the copy path; the app refills one array.
        const int chunks = 3000;
        await using var host = await TestHost.StartAsync(static (env, start) => Body(start));
        var expected = Enumerable.Range(0, chunks).SelectMany(static i => Enumerable.Repeat((byte)(i % 251), 1000)).ToArray();
        var problem = await BodyIntegrity.JitteryClient.CheckAsync(host.Port, "/", expected, seed: 7, TestHost.Wait);
        Assert.Null(problem);

        static IEnumerable<byte[]> Body(StartResponse start)
        {
            start("200 OK", []);
            var chunk = new byte[1000];
            for (var i = 0; i < chunks; i++)
            {
                Array.Fill(chunk, (byte)(i % 251));
                yield return chunk;
            }
        }
    }
}

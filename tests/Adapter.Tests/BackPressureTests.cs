namespace Adapter.Tests;

public sealed class BackPressureTests
{
    [Fact]
    public async Task Slow_reader_holds_the_app_back()
    {
        const int chunkSize = 1024 * 1024;
        const int chunks = 256;
        long produced = 0;
        await using var host = await TestHost.StartAsync((env, start) => Body(start));
        using var raw = host.Connect();
        raw.Socket.ReceiveBufferSize = 64 * 1024;
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");

        // Read nothing until the app stalls: it must stall far short of the whole 256 MiB body.
        var deadline = DateTime.UtcNow + TestHost.Wait;
        long last = -1;
        while (DateTime.UtcNow < deadline)
        {
            await Task.Delay(300);
            var now = Interlocked.Read(ref produced);
            if (now == last)
            {
                break;
            }

            last = now;
        }

        var ahead = Interlocked.Read(ref produced);
        Assert.True(ahead < 48, $"The app ran {ahead} MiB ahead of a client that read nothing.");

        var buffer = new byte[256 * 1024];
        long received = 0;
        int read;
        while ((read = await raw.Stream.ReadAsync(buffer).AsTask().WaitAsync(TestHost.Wait)) > 0)
        {
            received += read;
        }

        Assert.Equal(chunks, Interlocked.Read(ref produced));
        Assert.True(received > (long)chunks * chunkSize);

        IEnumerable<byte[]> Body(StartResponse start)
        {
            start("200 OK", [("Content-Length", ((long)chunks * chunkSize).ToString())]);
            var chunk = new byte[chunkSize];
            for (var i = 0; i < chunks; i++)
            {
                Interlocked.Increment(ref produced);
                yield return chunk;
            }
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
        await using var host = await TestHost.StartAsync(static (env, start) => Body(start));
        var body = await host.Client.GetStringAsync("/");
        Assert.Equal(string.Concat(Enumerable.Range(0, 50).Select(static i => (char)('A' + i % 26))), body);

        static IEnumerable<byte[]> Body(StartResponse start)
        {
            start("200 OK", []);
            var chunk = new byte[1];
            for (var i = 0; i < 50; i++)
            {
                chunk[0] = (byte)('A' + i % 26);
                yield return chunk;
            }
        }
    }
}

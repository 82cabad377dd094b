using System.IO.Pipelines;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http.Features;

namespace Adapter.Tests;

public sealed class FileWrapperTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"adapter-file-{Guid.NewGuid():N}.txt");

    public FileWrapperTests() => File.WriteAllText(_path, "0123456789abcdefghij");

    public void Dispose() => File.Delete(_path);

    private static Task<TestHost> StartRecordingAsync(GatewayApp app, List<string> sendFileCalls) =>
        TestHost.StartAsync(web =>
        {
            web.Use((context, next) =>
            {
                var inner = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
                context.Features.Set<IHttpResponseBodyFeature>(new RecordingBodyFeature(inner, sendFileCalls));
                return next(context);
            });
            web.UseGatewayApp(app);
        });

    [Fact]
    public async Task File_stream_is_sent_through_SendFileAsync_from_its_position_and_disposed()
    {
        var calls = new List<string>();
        FileStream? file = null;
        await using var host = await StartRecordingAsync((env, start) =>
        {
            file = File.OpenRead(_path);
            file.Position = 5;
            start("200 OK", [("Content-Type", "text/plain")]);
            return ((FileWrapper)env["wsgi.file_wrapper"]!)(file);
        }, calls);

        Assert.Equal("56789abcdefghij", await host.Client.GetStringAsync("/"));
        Assert.Equal([$"{_path}@5+15"], calls);
        Assert.False(file!.CanRead);
    }

    [Fact]
    public async Task File_wrapper_honours_the_declared_content_length()
    {
        var calls = new List<string>();
        await using var host = await StartRecordingAsync((env, start) =>
        {
            start("200 OK", [("Content-Length", "4")]);
            return ((FileWrapper)env["wsgi.file_wrapper"]!)(File.OpenRead(_path));
        }, calls);

        Assert.Equal("0123", await host.Client.GetStringAsync("/"));
        Assert.Equal([$"{_path}@0+4"], calls);
    }

    [Fact]
    public async Task Other_streams_are_read_in_blocks_and_disposed()
    {
        var calls = new List<string>();
        var stream = new TrackingStream(Apps.Bytes("streamed in small blocks"));
        await using var host = await StartRecordingAsync((env, start) =>
        {
            start("200 OK", []);
            return ((FileWrapper)env["wsgi.file_wrapper"]!)(stream, 4);
        }, calls);

        Assert.Equal("streamed in small blocks", await host.Client.GetStringAsync("/"));
        Assert.Empty(calls);
        Assert.True(stream.Disposed);
        Assert.True(stream.Reads >= 6);
    }

    private sealed class TrackingStream(byte[] data) : MemoryStream(data)
    {
        public bool Disposed;
        public int Reads;

        public override int Read(byte[] buffer, int offset, int count)
        {
            Reads++;
            return base.Read(buffer, offset, count);
        }

        public override int Read(Span<byte> buffer)
        {
            Reads++;
            return base.Read(buffer);
        }

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }
    }

    /// <summary>Passes everything to the server's own feature, noting each send-file call.</summary>
    private sealed class RecordingBodyFeature(IHttpResponseBodyFeature inner, List<string> calls) : IHttpResponseBodyFeature
    {
        public Stream Stream => inner.Stream;

        public PipeWriter Writer => inner.Writer;

        public Task CompleteAsync() => inner.CompleteAsync();

        public void DisableBuffering() => inner.DisableBuffering();

        public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
        {
            lock (calls)
            {
                calls.Add($"{path}@{offset}+{count}");
            }

            return inner.SendFileAsync(path, offset, count, cancellationToken);
        }

        public Task StartAsync(CancellationToken cancellationToken = default) => inner.StartAsync(cancellationToken);
    }
}

using System.Net.Sockets;
using System.Text;

namespace Adapter.Tests;

/// <summary>A plain TCP client for checking framing, truncation and disconnects byte by byte.</summary>
internal sealed class RawConnection : IDisposable
{
    private readonly TcpClient _client;
    private readonly MemoryStream _pending = new();

    public RawConnection(int port)
    {
        _client = new TcpClient();
        _client.Connect("127.0.0.1", port);
        Stream = _client.GetStream();
    }

    public NetworkStream Stream { get; }

    public Socket Socket => _client.Client;

    public async Task SendAsync(string text)
    {
        await Stream.WriteAsync(Encoding.Latin1.GetBytes(text)).AsTask().WaitAsync(TestHost.Wait);
    }

    public async Task SendAsync(byte[] data) => await Stream.WriteAsync(data).AsTask().WaitAsync(TestHost.Wait);

    /// <summary>Reads until the server closes the connection; reports whether it ended cleanly or was reset.</summary>
    public async Task<(string Text, bool Reset)> ReadToEndAsync()
    {
        var all = new MemoryStream();
        _pending.WriteTo(all);
        _pending.SetLength(0);
        var buffer = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = await Stream.ReadAsync(buffer).AsTask().WaitAsync(TestHost.Wait)) > 0)
            {
                all.Write(buffer, 0, read);
            }

            return (Encoding.Latin1.GetString(all.ToArray()), false);
        }
        catch (IOException)
        {
            return (Encoding.Latin1.GetString(all.ToArray()), true);
        }
    }

    /// <summary>Reads one response framed by Content-Length or chunking; returns the head and the body.</summary>
    public async Task<(string Head, string Body)> ReadResponseAsync()
    {
        var head = await ReadUntilAsync("\r\n\r\n");
        var lines = head.Split("\r\n");
        var length = lines.FirstOrDefault(static l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
        if (length is not null)
        {
            return (head, await ReadExactAsync(int.Parse(length[15..].Trim())));
        }

        if (lines.Any(static l => l.Equals("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase)))
        {
            var body = new StringBuilder();
            while (true)
            {
                var size = Convert.ToInt32((await ReadUntilAsync("\r\n")).TrimEnd(), 16);
                body.Append(await ReadExactAsync(size));
                await ReadExactAsync(2);
                if (size == 0)
                {
                    return (head, body.ToString());
                }
            }
        }

        return (head, "");
    }

    private async Task<string> ReadUntilAsync(string marker)
    {
        while (true)
        {
            var text = Encoding.Latin1.GetString(_pending.GetBuffer(), 0, (int)_pending.Length);
            var at = text.IndexOf(marker, StringComparison.Ordinal);
            if (at >= 0)
            {
                Consume(at + marker.Length);
                return text[..(at + marker.Length)];
            }

            await FillAsync();
        }
    }

    private async Task<string> ReadExactAsync(int count)
    {
        while (_pending.Length < count)
        {
            await FillAsync();
        }

        var text = Encoding.Latin1.GetString(_pending.GetBuffer(), 0, count);
        Consume(count);
        return text;
    }

    private async Task FillAsync()
    {
        var buffer = new byte[16 * 1024];
        var read = await Stream.ReadAsync(buffer).AsTask().WaitAsync(TestHost.Wait);
        if (read == 0)
        {
            throw new EndOfStreamException("The server closed the connection mid-response.");
        }

        _pending.Seek(0, SeekOrigin.End);
        _pending.Write(buffer, 0, read);
    }

    private void Consume(int count)
    {
        var rest = _pending.GetBuffer().AsSpan(count, (int)_pending.Length - count).ToArray();
        _pending.SetLength(0);
        _pending.Write(rest);
    }

    public void Dispose() => _client.Dispose();
}

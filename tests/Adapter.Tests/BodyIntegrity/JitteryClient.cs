using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Adapter.Tests.BodyIntegrity;

/// <summary>
/// A slow, uneven reader over a raw socket: a 32 KiB receive buffer, reads of 4, 16 or 64 KiB at random,
/// and a pause of 1 to 10 ms before one read in twenty. It decodes the chunked response itself, so a body
/// that ends with a valid terminator but lacks bytes is still caught.
/// </summary>
internal static class JitteryClient
{
    private static readonly int[] ReadSizes = [4 * 1024, 16 * 1024, 64 * 1024];

    /// <summary>Downloads <paramref name="target"/>; returns null when the body is exactly <paramref name="expected"/>, else what went wrong.</summary>
    public static async Task<string?> CheckAsync(int port, string target, byte[] expected, int seed, TimeSpan timeout)
    {
        var random = new Random(seed);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var cancel = new CancellationTokenSource(timeout);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancel.Token);

        // Shrunk after the handshake: set before it, Linux offers no window scaling (wscale 0) on a window smaller
        // than loopback's 64 KiB segment, and the server's kernel then stalls in zero-window probes with
        // exponential backoff (seen with `ss -tino`: persist timer, backoff, seconds without a byte), whatever
        // the server is. The reader is just as small and slow either way.
        socket.ReceiveBufferSize = 32 * 1024;
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"), cancel.Token);

        var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                if (random.Next(20) == 0)
                {
                    await Task.Delay(random.Next(1, 11), cancel.Token);
                }

                var read = await socket.ReceiveAsync(buffer.AsMemory(0, ReadSizes[random.Next(ReadSizes.Length)]), cancel.Token);
                if (read == 0)
                {
                    break;
                }

                received.Write(buffer, 0, read);
            }
        }
        catch (OperationCanceledException)
        {
            return $"timed out after {received.Length} bytes";
        }
        catch (SocketException ex)
        {
            return $"connection reset after {received.Length} bytes: {ex.SocketErrorCode}";
        }

        return Verify(received.ToArray(), expected);
    }

    private static string? Verify(byte[] response, byte[] expected)
    {
        var headEnd = response.AsSpan().IndexOf("\r\n\r\n"u8);
        if (headEnd < 0)
        {
            return "no response head";
        }

        var head = Encoding.ASCII.GetString(response, 0, headEnd);
        if (!head.StartsWith("HTTP/1.1 200", StringComparison.Ordinal))
        {
            return "status: " + head.Split("\r\n")[0];
        }

        if (!head.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase))
        {
            return "not chunked: " + head;
        }

        var body = new MemoryStream();
        var at = headEnd + 4;
        while (true)
        {
            var lineEnd = response.AsSpan(at).IndexOf("\r\n"u8);
            if (lineEnd < 0)
            {
                return $"cut short after {body.Length} body bytes, without the last chunk";
            }

            var size = Convert.ToInt32(Encoding.ASCII.GetString(response, at, lineEnd).Split(';')[0], 16);
            at += lineEnd + 2;
            if (size == 0)
            {
                break;
            }

            if (at + size + 2 > response.Length)
            {
                return $"cut short inside a chunk after {body.Length} body bytes";
            }

            body.Write(response, at, size);
            at += size + 2;
        }

        var actual = body.ToArray();
        var common = Math.Min(actual.Length, expected.Length);
        var mismatch = actual.AsSpan(0, common).CommonPrefixLength(expected.AsSpan(0, common));
        if (mismatch < common)
        {
            return $"{actual.Length} of {expected.Length} bytes, first wrong byte at offset {mismatch}";
        }

        return actual.Length == expected.Length ? null : $"{actual.Length} of {expected.Length} bytes, ending with a valid terminator";
    }
}

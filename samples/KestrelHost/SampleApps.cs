using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Adapter;

namespace KestrelHost;

/// <summary>The seed document's examples as C# gateway apps.</summary>
internal static class SampleApps
{
    public const int StreamChunkSize = 64 * 1024;

    /// <summary>The first example: a plain-text greeting.</summary>
    public static IEnumerable<byte[]> Hello(IDictionary<string, object?> environ, StartResponse startResponse)
    {
        startResponse("200 OK", [("Content-Type", "text/plain")]);
        return ["Hello, World!"u8.ToArray()];
    }

    /// <summary>Echoes the method, path, query string and the HTTP_* headers.</summary>
    public static IEnumerable<byte[]> Environ(IDictionary<string, object?> environ, StartResponse startResponse)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"REQUEST_METHOD: {environ["REQUEST_METHOD"]}\n");
        text.Append(CultureInfo.InvariantCulture, $"SCRIPT_NAME: {environ["SCRIPT_NAME"]}\n");
        text.Append(CultureInfo.InvariantCulture, $"PATH_INFO: {environ["PATH_INFO"]}\n");
        text.Append(CultureInfo.InvariantCulture, $"QUERY_STRING: {environ["QUERY_STRING"]}\n");
        foreach (var (key, value) in environ.Where(static e => e.Key.StartsWith("HTTP_", StringComparison.Ordinal)).OrderBy(static e => e.Key, StringComparer.Ordinal))
        {
            text.Append(CultureInfo.InvariantCulture, $"{key}: {value}\n");
        }

        startResponse("200 OK", [("Content-Type", "text/plain; charset=utf-8")]);
        return [Encoding.UTF8.GetBytes(text.ToString())];
    }

    /// <summary>Reads the whole body in 64 KiB pieces and answers its length and SHA-256.</summary>
    public static IEnumerable<byte[]> Upload(IDictionary<string, object?> environ, StartResponse startResponse)
    {
        if (environ["REQUEST_METHOD"] as string != "POST")
        {
            startResponse("405 Method Not Allowed", [("Allow", "POST"), ("Content-Type", "text/plain")]);
            return ["POST a body to /upload\n"u8.ToArray()];
        }

        var input = (Stream)environ["wsgi.input"]!;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[StreamChunkSize];
        long length = 0;
        int read;
        while ((read = input.Read(buffer, 0, buffer.Length)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            length += read;
        }

        var answer = $"{length} {Convert.ToHexStringLower(hash.GetHashAndReset())}";
        startResponse("200 OK", [("Content-Type", "text/plain")]);
        return [Encoding.ASCII.GetBytes(answer)];
    }

    /// <summary>Streams <c>?bytes=N</c> bytes in 64 KiB chunks from an iterator.</summary>
    public static IEnumerable<byte[]> Stream(IDictionary<string, object?> environ, StartResponse startResponse)
    {
        var query = System.Web.HttpUtility.ParseQueryString(environ["QUERY_STRING"] as string ?? "");
        if (!long.TryParse(query["bytes"], NumberStyles.None, CultureInfo.InvariantCulture, out var total))
        {
            startResponse("400 Bad Request", [("Content-Type", "text/plain")]);
            return ["?bytes=N is required\n"u8.ToArray()];
        }

        startResponse("200 OK", [("Content-Type", "application/octet-stream")]);
        return Chunks(total);
    }

    private static IEnumerable<byte[]> Chunks(long total)
    {
        // One buffer for the whole stream: the adapter sends each chunk before it asks for the next.
        var buffer = new byte[StreamChunkSize];
        buffer.AsSpan().Fill((byte)'x');
        for (var left = total; left > 0; left -= StreamChunkSize)
        {
            yield return left >= StreamChunkSize ? buffer : buffer[..(int)left];
        }
    }
}

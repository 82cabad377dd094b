namespace Adapter.Tests.BodyIntegrity;

/// <summary>
/// A body of numbered chunks, from 1 byte to 256 KiB (mostly 1,000 bytes), made from a seed so that the client
/// can tell a moved, doubled or missing chunk from the bytes alone. <c>pyapps/bridge_apps.py</c> makes the same
/// body in Python (<c>numbered_app</c>).
/// </summary>
internal sealed class NumberedBody(int seed, long total)
{
    private static readonly byte[] Pattern = MakePattern();

    public static GatewayApp App => static (environ, start) =>
    {
        var query = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery((string?)environ["QUERY_STRING"]);
        var body = new NumberedBody(int.Parse(query["seed"]!), long.Parse(query["total"]!));
        var write = start("200 OK", [("Content-Type", "application/octet-stream")]);
        if (query["mode"] == "write")
        {
            foreach (var chunk in body.Chunks())
            {
                write(chunk);
            }

            return [];
        }

        return body.Chunks();
    };

    /// <summary>The chunks in order; each a fresh array.</summary>
    public IEnumerable<byte[]> Chunks()
    {
        var state = (uint)seed & 0x7FFFFFFF;
        long sent = 0;
        for (var index = 0; sent < total; index++)
        {
            var roll = Next(ref state) % 100;
            var size = roll < 4 ? 65536 + (int)(Next(ref state) % (262144 - 65536 + 1))
                : roll < 12 ? 1 + (int)(Next(ref state) % 16)
                : 1000;
            size = (int)Math.Min(size, total - sent);
            yield return Pattern.AsSpan(index * 31 % 251, size).ToArray();
            sent += size;
        }
    }

    /// <summary>The whole body, as the client must receive it.</summary>
    public byte[] Expected() => Chunks().SelectMany(static c => c).ToArray();

    private static uint Next(ref uint state)
    {
        state = unchecked(state * 1103515245 + 12345) & 0x7FFFFFFF;
        return state >> 8;
    }

    private static byte[] MakePattern()
    {
        var pattern = new byte[251 * (262144 / 251 + 2)];
        for (var i = 0; i < pattern.Length; i++)
        {
            pattern[i] = (byte)(i % 251);
        }

        return pattern;
    }
}

using System.Text;

namespace Adapter;

/// <summary>Percent-decodes a URL path completely (<c>%2F</c> included).</summary>
internal static class PercentDecoder
{
    /// <summary>The decoded bytes read as UTF-8, as the C# environ gives paths.</summary>
    public static string Decode(string text) => text.Contains('%') ? Encoding.UTF8.GetString(DecodeBytes(text)) : text;

    /// <summary>The bytes the path stands for: escapes decoded, other characters as their UTF-8 bytes.</summary>
    public static ArraySegment<byte> DecodeBytes(string text)
    {
        var first = text.IndexOf('%');
        if (first < 0)
        {
            first = text.Length;
        }

        var bytes = new byte[Encoding.UTF8.GetMaxByteCount(text.Length)];
        var count = Encoding.UTF8.GetBytes(text.AsSpan(0, first), bytes);
        var i = first;
        while (i < text.Length)
        {
            if (text[i] == '%' && i + 2 < text.Length && IsHex(text[i + 1]) && IsHex(text[i + 2]))
            {
                bytes[count++] = (byte)(HexValue(text[i + 1]) << 4 | HexValue(text[i + 2]));
                i += 3;
                continue;
            }

            // Copy the run up to the next escape whole, so surrogate pairs stay together.
            var next = text.IndexOf('%', i + 1);
            var end = next < 0 ? text.Length : next;
            count += Encoding.UTF8.GetBytes(text.AsSpan(i, end - i), bytes.AsSpan(count));
            i = end;
        }

        return new ArraySegment<byte>(bytes, 0, count);
    }

    private static bool IsHex(char c) => char.IsAsciiHexDigit(c);

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

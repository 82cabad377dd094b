using System.Text;

namespace Adapter;

/// <summary>Percent-decodes a URL path completely (<c>%2F</c> included) and reads the bytes as UTF-8.</summary>
internal static class PercentDecoder
{
    public static string Decode(string text)
    {
        var first = text.IndexOf('%');
        if (first < 0)
        {
            return text;
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

        return Encoding.UTF8.GetString(bytes, 0, count);
    }

    private static bool IsHex(char c) => char.IsAsciiHexDigit(c);

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

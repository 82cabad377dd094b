using System.Buffers;
using System.Text;

namespace Adapter;

/// <summary>
/// Makes client- and app-controlled text safe to log: control characters (CR and LF among them) and Unicode
/// line separators become visible escapes, so no request can forge or split a log line.
/// </summary>
internal static class LogText
{
    private static readonly SearchValues<char> Unsafe = SearchValues.Create(
        "\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u0009\u000A\u000B\u000C\u000D\u000E\u000F" +
        "\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001A\u001B\u001C\u001D\u001E\u001F" +
        "\u007F\u0085\u2028\u2029");

    private static readonly SearchValues<char> UnsafeInLines = SearchValues.Create(
        "\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u000B\u000C\u000D\u000E\u000F" +
        "\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001A\u001B\u001C\u001D\u001E\u001F" +
        "\u007F\u0085\u2028\u2029");

    public static string Escape(string text) => Escape(text, Unsafe);

    /// <summary>
    /// As <see cref="Escape(string)"/>, but keeps line feeds and tabs: for one entry of several lines (a Python
    /// traceback), which a console or JSON formatter keeps inside that entry.
    /// </summary>
    public static string EscapeKeepingLines(string text) => Escape(text.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd('\n'), UnsafeInLines);

    private static string Escape(string text, SearchValues<char> unsafeChars)
    {
        var first = text.AsSpan().IndexOfAny(unsafeChars);
        if (first < 0)
        {
            return text;
        }

        var builder = new StringBuilder(text.Length + 16).Append(text, 0, first);
        foreach (var c in text.AsSpan(first))
        {
            if (unsafeChars.Contains(c))
            {
                builder.Append(c < 0x100 ? $"\\x{(int)c:X2}" : $"\\u{(int)c:X4}");
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }
}

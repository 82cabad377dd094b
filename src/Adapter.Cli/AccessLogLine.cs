using System.Globalization;
using System.Text;

namespace Adapter.Cli;

/// <summary>
/// One access log line from the fields of an HTTP logging entry, in gunicorn's default shape (the combined log
/// format) plus the duration: <c>127.0.0.1 - - [27/Nov/2026:09:40:01 +0000] "GET /a?b=1 HTTP/1.1" 200 12 "-" "curl/8.14.1" 1.234ms</c>.
/// </summary>
internal static class AccessLogLine
{
    public static string Format(IReadOnlyList<KeyValuePair<string, object?>> fields, DateTimeOffset now)
    {
        string? Field(string key)
        {
            foreach (var (name, value) in fields)
            {
                if (name == key)
                {
                    return Convert.ToString(value, CultureInfo.InvariantCulture);
                }
            }

            return null;
        }

        var line = new StringBuilder(160);
        line.Append(Or(Field(AccessLogInterceptor.RemoteAddress))).Append(" - - [")
            .Append(now.ToString("dd/MMM/yyyy:HH:mm:ss ", CultureInfo.InvariantCulture))
            .Append(now.Offset < TimeSpan.Zero ? '-' : '+')
            .Append(now.Offset.ToString("hhmm", CultureInfo.InvariantCulture)).Append("] \"")
            .Append(Field("Method")).Append(' ')
            .Append(Field("PathBase")).Append(Field("Path")).Append(Field("QueryString")).Append(' ')
            .Append(Field("Protocol")).Append("\" ")
            .Append(Or(Field("StatusCode"))).Append(' ')
            .Append(Or(Field(AccessLogInterceptor.ResponseLength))).Append(" \"");
        Quoted(line, Field(AccessLogInterceptor.Referer));
        line.Append("\" \"");
        Quoted(line, Field(AccessLogInterceptor.UserAgent));
        line.Append("\" ");
        var duration = Field("Duration");
        line.Append(duration is null ? "-" : double.Parse(duration, CultureInfo.InvariantCulture).ToString("0.###", CultureInfo.InvariantCulture) + "ms");
        return line.ToString();
    }

    private static string Or(string? value) => string.IsNullOrEmpty(value) ? "-" : value;

    /// <summary>A header value between quotes: quotes and backslashes escaped, control characters dropped, so a line stays one line.</summary>
    private static void Quoted(StringBuilder line, string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            line.Append('-');
            return;
        }

        foreach (var c in value)
        {
            if (c is '"' or '\\')
            {
                line.Append('\\').Append(c);
            }
            else if (!char.IsControl(c))
            {
                line.Append(c);
            }
        }
    }
}

using System.Buffers;
using System.Globalization;
using Microsoft.AspNetCore.WebUtilities;

namespace Adapter;

/// <summary>Validation of the status and headers passed to start_response (SPEC §4, PEP 3333).</summary>
internal static class HeaderRules
{
    // RFC 9110 token characters.
    private static readonly SearchValues<char> TokenChars =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    private static readonly string[] HopByHop =
        ["Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding", "Upgrade"];

    /// <summary>Parses <c>"NNN Reason"</c> or a bare <c>"NNN"</c>; anything else is the app's error.</summary>
    public static (int Code, string? Reason) ParseStatus(string status)
    {
        if (status.Length < 3
            || !char.IsAsciiDigit(status[0]) || !char.IsAsciiDigit(status[1]) || !char.IsAsciiDigit(status[2])
            || (status.Length > 3 && status[3] != ' '))
        {
            throw new ArgumentException($"Invalid status '{Printable(status)}': expected three digits, a space and a reason phrase.", nameof(status));
        }

        var code = (status[0] - '0') * 100 + (status[1] - '0') * 10 + (status[2] - '0');
        if (code < 100)
        {
            throw new ArgumentException($"Invalid status '{Printable(status)}': the code must be 100 to 999.", nameof(status));
        }

        if (status.Length <= 4)
        {
            return (code, null);
        }

        // The standard phrase is Kestrel's own for the code: no copy, nothing to override.
        if (status.AsSpan(4).SequenceEqual(ReasonPhrases.GetReasonPhrase(code)))
        {
            return (code, null);
        }

        var reason = status[4..];
        foreach (var c in reason)
        {
            if (IsForbiddenInValue(c))
            {
                throw new ArgumentException($"Invalid status '{Printable(status)}': the reason phrase holds a control character or a character outside ASCII.", nameof(status));
            }
        }

        return (code, reason);
    }

    /// <summary>Checks every header; returns the declared Content-Length, or -1 when none was given.</summary>
    public static long Validate(IReadOnlyList<(string Name, string Value)> headers)
    {
        long contentLength = -1;
        for (var i = 0; i < headers.Count; i++)
        {
            var (name, value) = headers[i];
            if (string.IsNullOrEmpty(name) || name.AsSpan().ContainsAnyExcept(TokenChars))
            {
                throw new ArgumentException($"Invalid response header name '{Printable(name ?? "")}': header names must be HTTP tokens.", nameof(headers));
            }

            if (value is null)
            {
                throw new ArgumentException($"Response header '{name}' has a null value.", nameof(headers));
            }

            foreach (var c in value)
            {
                if (IsForbiddenInValue(c))
                {
                    throw new ArgumentException($"Response header '{name}' holds a control character (CR, LF or other), refused against header injection, or a character outside ASCII, which Kestrel cannot send (encode it, e.g. RFC 8187 or percent-encoding).", nameof(headers));
                }
            }

            foreach (var hop in HopByHop)
            {
                if (string.Equals(name, hop, StringComparison.OrdinalIgnoreCase))
                {
                    throw new ArgumentException($"Response header '{name}' is hop-by-hop; the server manages the connection and framing.", nameof(headers));
                }
            }

            if (string.Equals(name, "Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                if (contentLength >= 0
                    || value.Length == 0
                    || value.AsSpan().ContainsAnyExceptInRange('0', '9')
                    || !long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out contentLength))
                {
                    throw new ArgumentException($"Response header 'Content-Length' has an invalid or repeated value '{Printable(value)}'.", nameof(headers));
                }
            }
        }

        return contentLength;
    }

    public static bool IsSameName(string a, string b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

    // Control characters (header injection), and anything past ASCII: Kestrel sends ASCII header values only and
    // would otherwise fail the response at commit time, after the app has moved on, with an empty 500.
    private static bool IsForbiddenInValue(char c) => c < 0x20 || c >= 0x7F;

    private static string Printable(string text) =>
        text.Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}

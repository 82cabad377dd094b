using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Adapter;

/// <summary>
/// Splits the request path into SCRIPT_NAME (the mount point) and PATH_INFO (the rest), both fully
/// percent-decoded as every WSGI server does, segment for segment of the path ASP.NET Core routed.
/// </summary>
/// <remarks>
/// Decoding never resolves anything: a <c>%2F</c> becomes <c>/</c> inside its segment, and a decoded segment that
/// holds a <c>.</c> or <c>..</c> part is refused (see <see cref="IsAmbiguous"/>) rather than resolved, so the app
/// never sees a path that routing and authorization did not.
/// </remarks>
internal static class RequestPath
{
    /// <param name="request">The request.</param>
    /// <param name="mountSegments">How many leading segments of <c>Request.Path</c> belong to the mount point (endpoint routing); 0 when <c>PathBase</c> already holds it.</param>
    public static (string ScriptName, string PathInfo) Split(HttpRequest request, int mountSegments)
    {
        var pathBase = request.PathBase.Value ?? "";
        var path = request.Path.Value ?? "";
        var raw = request.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget;

        // Kestrel decodes every escape but %2F, and leaves an escape that is not UTF-8 as it was, so "/%FF" and
        // "/%25FF" would both read "/%FF". Whenever the raw target holds an escape, decode it here instead.
        if (raw is not null && raw.Contains('%'))
        {
            var rawPath = RawPath(raw);
            if (rawPath is not null)
            {
                var at = SkipSegments(rawPath, Count(pathBase, '/') + mountSegments);
                return (Trim(PercentDecoder.Decode(rawPath[..at])), PercentDecoder.Decode(rawPath[at..]));
            }

            path = path.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);
        }

        if (mountSegments == 0)
        {
            return (Trim(pathBase), path);
        }

        var split = SkipSegments(path, mountSegments);
        return (Trim(pathBase + path[..split]), path[split..]);
    }

    /// <summary>
    /// True when decoding made a dot segment (<c>..%2F</c>, <c>.%2F</c>, <c>%2E%2E%2F</c>): the literal ones were
    /// resolved by Kestrel before routing, so any left in the decoded split came from an escape. Such a request is
    /// refused: resolving it would reach a path that was never routed, passing it on would let a naive
    /// file-serving app climb out of its folder.
    /// </summary>
    public static bool IsAmbiguous(string scriptName, string pathInfo) =>
        DotSegments.Contains(scriptName) || DotSegments.Contains(pathInfo);

    /// <summary>The path part of a raw target, or null when its segments cannot map onto the decoded path.</summary>
    public static string? RawPath(string raw)
    {
        var query = raw.IndexOf('?');
        var path = query < 0 ? raw : raw[..query];
        if (!path.StartsWith('/'))
        {
            // Absolute form: scheme://authority/path.
            var scheme = path.IndexOf("://", StringComparison.Ordinal);
            if (scheme < 0)
            {
                return null;
            }

            var slash = path.IndexOf('/', scheme + 3);
            path = slash < 0 ? "/" : path[slash..];
        }

        // Kestrel removed the dot segments (an escaped dot included) from the decoded path; removing them here
        // too makes the raw segments line up with it again.
        return DotSegments.Remove(path);
    }

    private static int SkipSegments(string path, int segments)
    {
        var index = 0;
        for (var i = 0; i < segments; i++)
        {
            var next = index + 1 < path.Length ? path.IndexOf('/', index + 1) : -1;
            if (next < 0)
            {
                return path.Length;
            }

            index = next;
        }

        return index;
    }

    private static int Count(string text, char c) => text.AsSpan().Count(c);

    private static string Trim(string scriptName) => scriptName.EndsWith('/') ? scriptName.TrimEnd('/') : scriptName;
}

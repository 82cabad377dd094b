using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Adapter;

/// <summary>
/// Splits the request path into SCRIPT_NAME (the mount point) and PATH_INFO (the rest), both fully
/// percent-decoded as every WSGI server does.
/// </summary>
internal static class RequestPath
{
    /// <param name="request">The request.</param>
    /// <param name="mountSegments">How many leading segments of <c>Request.Path</c> belong to the mount point (endpoint routing); 0 when <c>PathBase</c> already holds it.</param>
    public static (string ScriptName, string PathInfo) Split(HttpRequest request, int mountSegments)
    {
        var pathBase = request.PathBase.Value ?? "";
        var path = request.Path.Value ?? "";
        var raw = request.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget;

        // Kestrel decodes everything but %2F; only when the raw target holds one is the decoded path incomplete.
        if (raw is not null && raw.Contains("%2F", StringComparison.OrdinalIgnoreCase))
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

        // Dot segments were removed from the decoded path, so segment counts would not line up.
        return path.Contains("/.", StringComparison.Ordinal) ? null : path;
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

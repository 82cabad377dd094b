namespace Adapter;

/// <summary>
/// RFC 3986 §5.2.4 remove_dot_segments for absolute paths: no <c>.</c> or <c>..</c> segment survives, and
/// <c>..</c> never climbs above the root it is applied to.
/// </summary>
internal static class DotSegments
{
    /// <summary>
    /// The raw, still-escaped <paramref name="path"/> without dot segments, <c>%2E</c> counting as a dot, as Kestrel
    /// resolves a request target before routing.
    /// </summary>
    public static string Remove(string path)
    {
        const bool escaped = true;
        if (!HasDotSegment(path, escaped))
        {
            return path;
        }

        var kept = new List<string>();
        var segments = path.Split('/');
        var trailingSlash = false;

        // segments[0] is what stands before the first '/': empty for an absolute path.
        for (var i = 1; i < segments.Length; i++)
        {
            var segment = segments[i];
            var last = i == segments.Length - 1;
            switch (DotKind(segment, escaped))
            {
                case 1:
                    trailingSlash = last;
                    break;
                case 2:
                    if (kept.Count > 0)
                    {
                        kept.RemoveAt(kept.Count - 1);
                    }

                    trailingSlash = last;
                    break;
                default:
                    kept.Add(segment);
                    trailingSlash = false;
                    break;
            }
        }

        var result = segments[0] + "/" + string.Join('/', kept);
        return trailingSlash && kept.Count > 0 ? result + "/" : result;
    }

    /// <summary>True when a <c>/</c>-separated part of the decoded <paramref name="path"/> is <c>.</c> or <c>..</c>.</summary>
    public static bool Contains(ReadOnlySpan<char> path)
    {
        if (!path.Contains('.'))
        {
            return false;
        }

        foreach (var range in path.Split('/'))
        {
            var part = path[range];
            if (part is "." or "..")
            {
                return true;
            }
        }

        return false;
    }

    private static bool HasDotSegment(string path, bool escaped)
    {
        var start = 0;
        while (true)
        {
            var slash = path.IndexOf('/', start);
            var end = slash < 0 ? path.Length : slash;
            if (start > 0 && DotKind(path[start..end], escaped) != 0)
            {
                return true;
            }

            if (slash < 0)
            {
                return false;
            }

            start = slash + 1;
        }
    }

    /// <summary>1 for a "." segment, 2 for "..", 0 otherwise.</summary>
    private static int DotKind(string segment, bool escaped)
    {
        if (segment is ".")
        {
            return 1;
        }

        if (segment is "..")
        {
            return 2;
        }

        if (!escaped || segment.Length < 3)
        {
            return 0;
        }

        var text = segment.Replace("%2E", ".", StringComparison.OrdinalIgnoreCase);
        return text is "." ? 1 : text is ".." ? 2 : 0;
    }
}

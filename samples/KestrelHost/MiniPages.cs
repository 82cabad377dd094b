namespace KestrelHost;

/// <summary>The pages the mini framework serves.</summary>
internal static class MiniPages
{
    public static IEnumerable<byte[]> Index(IDictionary<string, object?> environ, Adapter.StartResponse startResponse)
    {
        startResponse("200 OK", [("Content-Type", "text/plain")]);
        return ["Mini framework: index\n"u8.ToArray()];
    }

    public static IEnumerable<byte[]> About(IDictionary<string, object?> environ, Adapter.StartResponse startResponse)
    {
        startResponse("200 OK", [("Content-Type", "text/plain")]);
        return ["Mini framework: about\n"u8.ToArray()];
    }
}

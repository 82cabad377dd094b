using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Adapter;

/// <summary>
/// Builds the Python environ, a real <c>dict</c>, from the adapter's environ (PEP 3333). CGI values become
/// native strings: ASCII text as is, anything else as the Latin-1 reading of its UTF-8 bytes (the bytes
/// Kestrel decoded), which is what Python servers give. SCRIPT_NAME and PATH_INFO come from the raw request
/// target, so a path that is not valid UTF-8 still arrives byte for byte; when C# middleware rewrote them,
/// the rewritten text is used, as UTF-8. wsgi.input, wsgi.errors and wsgi.file_wrapper are set by the
/// bridge; other .NET objects (the HttpContext, the abort token) stay in .NET.
/// </summary>
internal static class PythonEnviron
{
    private const string ServerSoftwareKey = "SERVER_SOFTWARE";

    /// <summary>SERVER_SOFTWARE, as CGI servers set it: <c>Adapter/&lt;version&gt; Kestrel</c>.</summary>
    public static readonly string ServerSoftware =
        $"Adapter/{typeof(GatewayEnviron).Assembly.GetName().Version?.ToString(3) ?? "0.0.0"} Kestrel";

    [ThreadStatic]
    private static Lists? t_lists;

    /// <summary>
    /// The request frame's payload for a worker process, straight from the lists to UTF-8 with no string between:
    /// <paramref name="index"/> (u32), the text list's length in bytes (u32), the text list, the other list. Written
    /// into a buffer rented from <see cref="ArrayPool{T}.Shared"/>, which the caller returns.
    /// </summary>
    public static (byte[] Buffer, int Length) EncodeFrame(IDictionary<string, object?> environ, int index)
    {
        var (stringList, otherList) = Build(environ);
        var strings = Whole(stringList);
        var others = Whole(otherList);
        var stringBytes = Encoding.UTF8.GetByteCount(strings);
        var length = 8 + stringBytes + Encoding.UTF8.GetByteCount(others);
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        BinaryPrimitives.WriteInt32BigEndian(buffer, index);
        BinaryPrimitives.WriteInt32BigEndian(buffer.AsSpan(4), stringBytes);
        var at = 8 + Encoding.UTF8.GetBytes(strings, buffer.AsSpan(8));
        Encoding.UTF8.GetBytes(others, buffer.AsSpan(at));
        return (buffer, length);
    }

    /// <summary>
    /// The list's characters in one piece: its only chunk (a reused builder settles into one), or a copy when it has
    /// several, so that no character is split between two encodings.
    /// </summary>
    private static ReadOnlySpan<char> Whole(StringBuilder list)
    {
        ReadOnlyMemory<char> only = default;
        var count = 0;
        foreach (var chunk in list.GetChunks())
        {
            if (++count > 1)
            {
                return list.ToString();
            }

            only = chunk;
        }

        return only.Span;
    }

    /// <summary>Fills the calling thread's two lists (see <see cref="EncodeFrame"/>); valid until its next call on this thread.</summary>
    private static (StringBuilder Strings, StringBuilder Others) Build(IDictionary<string, object?> environ)
    {
        // Per thread and reused: a request's two lists then cost only the bytes handed to the worker.
        var lists = t_lists ??= new Lists();
        lists.Strings.Clear();
        lists.Others.Clear();
        Walk(environ, lists);
        return (lists.Strings, lists.Others);
    }

    /// <summary>
    /// Hands <paramref name="sink"/> every entry Python gets, in one definition for both modes: each text entry with its
    /// value (PEP 3333's native string: <see cref="Native"/> of it, or already native when it came from the raw
    /// target), each flag, and wsgi.version; SERVER_SOFTWARE when the environ has none. Other .NET objects stay in .NET.
    /// </summary>
    public static void Walk<TSink>(IDictionary<string, object?> environ, TSink sink)
        where TSink : class, IPythonEnvironSink
    {
        var (scriptName, pathInfo) = Paths(environ);
        var state = (scriptName, pathInfo, sink);
        if (environ is GatewayEnviron live)
        {
            // The adapter's own environ is read straight from the request, not copied into a dictionary first.
            live.ForEach(state, static (s, key, value) => Add(s, key, value));
        }
        else
        {
            foreach (var (key, value) in environ)
            {
                Add(state, key, value);
            }
        }

        if (!environ.ContainsKey(ServerSoftwareKey))
        {
            // Some apps look for a server they know (httpbin accepts chunked bodies only then).
            sink.Text(ServerSoftwareKey, ServerSoftware, native: true);
        }
    }

    private static void Add<TSink>((string? ScriptName, string? PathInfo, TSink Sink) state, string key, object? value)
        where TSink : IPythonEnvironSink
    {
        switch (value)
        {
            case string text:
                var raw = key switch
                {
                    EnvironKeys.PathInfo => state.PathInfo,
                    EnvironKeys.ScriptName => state.ScriptName,
                    _ => null,
                };
                if (raw is null)
                {
                    state.Sink.Text(key, text, native: false);
                }
                else
                {
                    state.Sink.Text(key, raw, native: true);
                }

                break;
            case bool flag:
                state.Sink.Flag(key, flag);
                break;
            case Version when key == EnvironKeys.WsgiVersion:
                state.Sink.WsgiVersion(key);
                break;
        }
    }

    /// <summary>The worker frame's two NUL-separated lists: key and native value pairs, then key and kind pairs (T, F, v).</summary>
    private sealed class Lists : IPythonEnvironSink
    {
        public StringBuilder Strings { get; } = new(1024);

        public StringBuilder Others { get; } = new(96);

        public void Text(string key, string value, bool native) => Append(Strings, key, native ? value : Native(value));

        public void Flag(string key, bool value) => Append(Others, key, value ? "T" : "F");

        public void WsgiVersion(string key) => Append(Others, key, "v");
    }

    private static void Append(StringBuilder list, string key, string value)
    {
        if (key.Contains('\0') || value.Contains('\0'))
        {
            throw new InvalidOperationException($"The environ entry '{key.Replace("\0", "\\0", StringComparison.Ordinal)}' holds a NUL character, which a Python native string here cannot carry.");
        }

        if (list.Length > 0)
        {
            list.Append('\0');
        }

        list.Append(key).Append('\0').Append(value);
    }

    /// <summary>
    /// A PEP 3333 native string for <paramref name="text"/>: its UTF-8 bytes read as Latin-1, the bytes Kestrel
    /// decoded (a header sent as UTF-8 <c>café</c> becomes <c>'caf\xc3\xa9'</c>, as gunicorn gives it; a path
    /// <c>/café</c> that C# middleware rewrote becomes <c>/cafÃ©</c>).
    /// </summary>
    public static string Native(string text) =>
        Ascii.IsValid(text) ? text : Encoding.Latin1.GetString(Encoding.UTF8.GetBytes(text));

    /// <summary>True when the raw target's path is <paramref name="scriptName"/> then <paramref name="pathInfo"/>, in ASCII, unescaped.</summary>
    private static bool IsPlain(string rawTarget, string scriptName, string pathInfo)
    {
        var query = rawTarget.IndexOf('?');
        var rawPath = query < 0 ? rawTarget.AsSpan() : rawTarget.AsSpan(0, query);
        return rawPath.Length == scriptName.Length + pathInfo.Length
            && rawPath.StartsWith(scriptName, StringComparison.Ordinal)
            && rawPath[scriptName.Length..].SequenceEqual(pathInfo)
            && !rawPath.Contains('%')
            && Ascii.IsValid(rawPath);
    }

    /// <summary>
    /// SCRIPT_NAME and PATH_INFO from the raw target's bytes, read as Latin-1; nulls when the raw target cannot
    /// be lined up with the adapter's split (see <see cref="RequestPath.RawPath"/>).
    /// </summary>
    private static (string? ScriptName, string? PathInfo) Paths(IDictionary<string, object?> environ)
    {
        // Only the adapter's own environ, with SCRIPT_NAME and PATH_INFO as the adapter computed them: when C#
        // middleware rewrote either, its value is what the app must see.
        if (environ is GatewayEnviron { Exchange.RawTarget: "*" } && environ.TryGetValue(EnvironKeys.PathInfo, out var asterisk) && asterisk is "")
        {
            // OPTIONS *: the Python servers give PATH_INFO "*" (an empty one makes Flask redirect).
            return ("", "*");
        }

        if (environ is not GatewayEnviron { Exchange: var exchange }
            || !environ.TryGetValue(EnvironKeys.ScriptName, out var script) || script is not string scriptName
            || !environ.TryGetValue(EnvironKeys.PathInfo, out var path) || path is not string pathInfo
            || scriptName != exchange.ScriptName || pathInfo != exchange.PathInfo)
        {
            return (null, null);
        }

        if (IsPlain(exchange.RawTarget, scriptName, pathInfo))
        {
            // The usual request: the raw path is the split itself, in ASCII with no escape, so the values stand as they are.
            return (null, null);
        }

        var rawPath = RequestPath.RawPath(exchange.RawTarget);
        if (rawPath is null)
        {
            return (null, null);
        }

        var full = Encoding.Latin1.GetString(PercentDecoder.DecodeBytes(rawPath));
        var prefix = Native(scriptName);
        if (!full.StartsWith(prefix, StringComparison.Ordinal))
        {
            return (null, null);
        }

        var rest = full[prefix.Length..];
        return rest.Length == 0 || rest[0] == '/' ? (prefix, rest) : (null, null);
    }
}

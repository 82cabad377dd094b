using System.Text;
using Python.Runtime;

namespace Adapter;

/// <summary>
/// Builds the Python environ, a real <c>dict</c>, from the adapter's environ (PEP 3333). CGI values become
/// native strings: text whose characters all fit in Latin-1 as is, anything else as the Latin-1 reading of
/// its UTF-8 bytes, which is what Python servers give. PATH_INFO comes from the raw request target, so a
/// path that is not valid UTF-8 still arrives byte for byte. wsgi.input, wsgi.errors and
/// wsgi.file_wrapper are set by the bridge; other .NET objects (the HttpContext, the abort token) stay in .NET.
/// </summary>
internal static class PythonEnviron
{
    /// <summary>Builds the dict; the GIL must be held.</summary>
    public static PyDict Build(IDictionary<string, object?> environ)
    {
        var dict = new PyDict();
        try
        {
            var (scriptName, pathInfo) = Paths(environ);
            foreach (var (key, value) in environ)
            {
                PyObject? item = value switch
                {
                    string text when key == EnvironKeys.PathInfo => new PyString(pathInfo ?? Native(text)),
                    string text when key == EnvironKeys.ScriptName => new PyString(scriptName ?? Native(text)),
                    string text => new PyString(Native(text)),
                    bool flag => flag.ToPython(),
                    Version when key == EnvironKeys.WsgiVersion => PythonRuntime.WsgiVersion.NewReference(),
                    _ => null,
                };
                if (item is null)
                {
                    continue;
                }

                using (item)
                {
                    dict.SetItem(key, item);
                }
            }

            return dict;
        }
        catch
        {
            dict.Dispose();
            throw;
        }
    }

    /// <summary>A PEP 3333 native string for <paramref name="text"/>.</summary>
    public static string Native(string text)
    {
        foreach (var c in text)
        {
            if (c > '\u00FF')
            {
                return Encoding.Latin1.GetString(Encoding.UTF8.GetBytes(text));
            }
        }

        return text;
    }

    /// <summary>
    /// SCRIPT_NAME and PATH_INFO from the raw target's bytes, read as Latin-1; nulls when the raw target cannot
    /// be lined up with the adapter's split (dot segments Kestrel removed, an absolute-form target).
    /// </summary>
    private static (string? ScriptName, string? PathInfo) Paths(IDictionary<string, object?> environ)
    {
        if (!environ.TryGetValue(EnvironKeys.RequestUri, out var uri) || uri is not string raw
            || !environ.TryGetValue(EnvironKeys.ScriptName, out var script) || script is not string scriptName)
        {
            return (null, null);
        }

        var query = raw.IndexOf('?');
        var rawPath = query < 0 ? raw : raw[..query];
        if (!rawPath.StartsWith('/') || rawPath.Contains("/.", StringComparison.Ordinal))
        {
            return (null, null);
        }

        var full = DecodeLatin1(rawPath);
        var prefix = Native(scriptName);
        if (!full.StartsWith(prefix, StringComparison.Ordinal))
        {
            return (null, null);
        }

        var rest = full[prefix.Length..];
        return rest.Length == 0 || rest[0] == '/' ? (prefix, rest) : (null, null);
    }

    /// <summary>Percent-decodes a raw path into bytes and reads them as Latin-1.</summary>
    private static string DecodeLatin1(string rawPath)
    {
        if (!rawPath.Contains('%'))
        {
            return Native(rawPath);
        }

        var bytes = new List<byte>(rawPath.Length);
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < rawPath.Length; i++)
        {
            var c = rawPath[i];
            if (c == '%' && i + 2 < rawPath.Length && char.IsAsciiHexDigit(rawPath[i + 1]) && char.IsAsciiHexDigit(rawPath[i + 2]))
            {
                bytes.Add(Convert.ToByte(rawPath.Substring(i + 1, 2), 16));
                i += 2;
            }
            else if (c < 0x80)
            {
                bytes.Add((byte)c);
            }
            else
            {
                var length = char.IsHighSurrogate(c) && i + 1 < rawPath.Length
                    ? Encoding.UTF8.GetBytes(rawPath.AsSpan(i++, 2), utf8)
                    : Encoding.UTF8.GetBytes(rawPath.AsSpan(i, 1), utf8);
                bytes.AddRange(utf8[..length]);
            }
        }

        return Encoding.Latin1.GetString(bytes.ToArray());
    }
}

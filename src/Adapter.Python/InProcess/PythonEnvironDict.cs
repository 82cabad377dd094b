using System.Text;

namespace Adapter;

/// <summary>
/// The in-process environ: a real <c>dict</c> built through the C API. The entries are encoded first, without the GIL,
/// into this thread's reusable buffer (<see cref="Fill"/>); with the GIL held, <see cref="ToDict"/> then only makes the
/// value objects, each decoded as Latin-1 straight from its bytes, under keys interned once for the process.
/// </summary>
internal sealed class PythonEnvironDict : IPythonEnvironSink
{
    /// <summary>At most this many distinct keys are interned and kept; keys past it (headers an app makes up) are made per request.</summary>
    private const int KeyLimit = 512;

    // Read and written only with the GIL held, which orders every access.
    private static readonly Dictionary<string, nint> Keys = new(StringComparer.Ordinal);
    private static nint s_version;

    [ThreadStatic]
    private static PythonEnvironDict? t_current;

    private Entry[] _entries = new Entry[48];
    private byte[] _bytes = new byte[4096];
    private int _count;
    private int _used;

    private enum Kind : byte
    {
        Text,
        True,
        False,
        Version,
    }

    /// <summary>The calling thread's builder, filled with <paramref name="environ"/>'s entries; no GIL needed.</summary>
    public static PythonEnvironDict Fill(IDictionary<string, object?> environ)
    {
        var builder = t_current ??= new PythonEnvironDict();
        builder._count = 0;
        builder._used = 0;
        PythonEnviron.Walk(environ, builder);
        return builder;
    }

    public void Text(string key, string value, bool native)
    {
        // A native value's code points are its bytes; any other is read as Latin-1 from its UTF-8 bytes (Native's rule).
        // One pass: room for the longest encoding is made first (3 bytes per UTF-16 unit at most).
        var most = native ? value.Length : value.Length * 3;
        if (_bytes.Length - _used < most)
        {
            Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, _used + most));
        }

        var length = (native ? Encoding.Latin1 : Encoding.UTF8).GetBytes(value, _bytes.AsSpan(_used));
        Add(new Entry(key, Kind.Text, _used, length));
        _used += length;
    }

    public void Flag(string key, bool value) => Add(new Entry(key, value ? Kind.True : Kind.False, 0, 0));

    public void WsgiVersion(string key) => Add(new Entry(key, Kind.Version, 0, 0));

    private void Add(Entry entry)
    {
        if (_count == _entries.Length)
        {
            Array.Resize(ref _entries, _count * 2);
        }

        _entries[_count++] = entry;
    }

    /// <summary>
    /// A new dict of the filled entries (a new reference) with the request's wsgi.input and wsgi.errors, and
    /// wsgi.file_wrapper; the GIL must be held.
    /// </summary>
    /// <exception cref="PythonError">CPython refused (out of memory).</exception>
    public nint ToDict(nint input, nint errors)
    {
        var dict = CPython.NewDict();
        if (dict == 0
            || !CPython.SetItem(dict, Key(EnvironKeys.WsgiInput).Key, input)
            || !CPython.SetItem(dict, Key(EnvironKeys.WsgiErrors).Key, errors)
            || !CPython.SetItem(dict, Key(EnvironKeys.WsgiFileWrapper).Key, PythonRuntime.FileWrapperType))
        {
            CPython.DecRef(dict);
            throw PythonError.Fetch();
        }

        for (var i = 0; i < _count; i++)
        {
            ref readonly var entry = ref _entries[i];
            var (key, owned) = Key(entry.Key);
            var value = entry.Kind switch
            {
                Kind.Text => CPython.StrFromLatin1(_bytes.AsSpan(entry.Offset, entry.Length)),
                Kind.True => CPython.True,
                Kind.False => CPython.False,
                _ => s_version != 0 ? s_version : s_version = Version(),
            };
            var stored = key != 0 && value != 0 && CPython.SetItem(dict, key, value);
            if (entry.Kind == Kind.Text)
            {
                CPython.DecRefPlain(value);
            }

            if (owned)
            {
                CPython.DecRefPlain(key);
            }

            if (!stored)
            {
                CPython.DecRef(dict);
                throw PythonError.Fetch();
            }
        }

        return dict;
    }

    /// <summary>The key object: interned and kept (borrowed), or, past the limit, a new one the caller drops.</summary>
    private static (nint Key, bool Owned) Key(string name)
    {
        if (Keys.TryGetValue(name, out var key))
        {
            return (key, false);
        }

        if (Keys.Count >= KeyLimit)
        {
            return (CPython.Str(name), true);
        }

        key = CPython.Intern(name);
        if (key != 0)
        {
            Keys[name] = key;
        }

        return (key, false);
    }

    /// <summary>wsgi.version's (1, 0), made once and kept.</summary>
    private static nint Version()
    {
        var version = CPython.NewTuple(2);
        CPython.SetTupleItem(version, 0, CPython.Int(1));
        CPython.SetTupleItem(version, 1, CPython.Int(0));
        return version;
    }

    private readonly record struct Entry(string Key, Kind Kind, int Offset, int Length);
}

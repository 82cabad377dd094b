using System.Collections;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace Adapter;

/// <summary>
/// The environ: a live view over the request. A key is computed when it is read, so an app that reads
/// three keys pays for three. The first change or enumeration copies the view into a plain dictionary,
/// which from then on is the whole truth, so every <see cref="IDictionary{TKey,TValue}"/> member behaves.
/// </summary>
internal sealed class GatewayEnviron(GatewayExchange exchange) : IDictionary<string, object?>
{
    private static readonly object True = true;
    private static readonly object False = false;
    private static readonly Version WsgiVersion = new(1, 0);

    /// <summary>At most this many header names have their environ key kept.</summary>
    private const int HeaderKeyLimit = 256;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string?> HeaderKeys = new(StringComparer.Ordinal);

    private Dictionary<string, object?>? _copy;

    /// <summary>The request this environ describes.</summary>
    public GatewayExchange Exchange => exchange;

    public object? this[string key]
    {
        get => TryGetValue(key, out var value) ? value : throw new KeyNotFoundException($"The environ has no key '{key}'.");
        set => Copy[key] = value;
    }

    public ICollection<string> Keys => Copy.Keys;

    public ICollection<object?> Values => Copy.Values;

    public int Count => Copy.Count;

    public bool IsReadOnly => false;

    private Dictionary<string, object?> Copy => _copy ??= Materialize();

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out object? value)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (_copy is not null)
        {
            return _copy.TryGetValue(key, out value);
        }

        exchange.BeginAdapterWork();
        try
        {
            return TryCompute(key, out value);
        }
        finally
        {
            exchange.EndAdapterWork(handOff: false);
        }
    }

    public bool ContainsKey(string key) => TryGetValue(key, out _);

    public void Add(string key, object? value) => Copy.Add(key, value);

    public void Add(KeyValuePair<string, object?> item) => Copy.Add(item.Key, item.Value);

    public bool Remove(string key) => Copy.Remove(key);

    public bool Remove(KeyValuePair<string, object?> item) => ((ICollection<KeyValuePair<string, object?>>)Copy).Remove(item);

    public bool Contains(KeyValuePair<string, object?> item) => ((ICollection<KeyValuePair<string, object?>>)Copy).Contains(item);

    public void Clear() => Copy.Clear();

    public void CopyTo(KeyValuePair<string, object?>[] array, int arrayIndex) =>
        ((ICollection<KeyValuePair<string, object?>>)Copy).CopyTo(array, arrayIndex);

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => Copy.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>
    /// Hands every entry to <paramref name="visit"/>, in enumeration order, without copying the view into a
    /// dictionary: for a caller that reads everything once (the Python bridge), the copy would be waste.
    /// </summary>
    public void ForEach<TState>(TState state, Action<TState, string, object?> visit)
    {
        if (_copy is not null)
        {
            foreach (var (key, value) in _copy)
            {
                visit(state, key, value);
            }

            return;
        }

        exchange.BeginAdapterWork();
        try
        {
            Visit(state, visit);
        }
        finally
        {
            exchange.EndAdapterWork(handOff: false);
        }
    }

    private Dictionary<string, object?> Materialize()
    {
        var copy = new Dictionary<string, object?>(EnvironKeys.Always.Length + exchange.Context.Request.Headers.Count + 3, StringComparer.Ordinal);
        ForEach(copy, static (into, key, value) => into[key] = value);
        return copy;
    }

    /// <summary>Computes every entry; inside an adapter section.</summary>
    private void Visit<TState>(TState state, Action<TState, string, object?> visit)
    {
        foreach (var key in EnvironKeys.Always)
        {
            TryCompute(key, out var value);
            visit(state, key, value);
        }

        foreach (var key in (ReadOnlySpan<string>)[EnvironKeys.ContentType, EnvironKeys.ContentLength, EnvironKeys.RemoteUser])
        {
            if (TryCompute(key, out var value))
            {
                visit(state, key, value);
            }
        }

        foreach (var header in exchange.Context.Request.Headers)
        {
            var key = HeaderKey(header.Key);
            if (key is not null)
            {
                visit(state, key, Join(header.Key, header.Value));
            }
        }
    }

    private bool TryCompute(string key, out object? value)
    {
        var context = exchange.Context;
        var request = context.Request;
        value = null;
        switch (key)
        {
            case EnvironKeys.RequestMethod: value = request.Method; return true;
            case EnvironKeys.ScriptName: value = exchange.ScriptName; return true;
            case EnvironKeys.PathInfo: value = exchange.PathInfo; return true;
            case EnvironKeys.QueryString:
                var query = request.QueryString.Value;
                value = string.IsNullOrEmpty(query) ? "" : query[1..];
                return true;
            case EnvironKeys.ContentType: return TryHeader(request, HeaderNames.ContentType, out value);
            case EnvironKeys.ContentLength: return TryHeader(request, HeaderNames.ContentLength, out value);
            case EnvironKeys.ServerName: value = ServerName(context); return true;
            case EnvironKeys.ServerPort: value = ServerPort(context); return true;
            case EnvironKeys.ServerProtocol: value = request.Protocol; return true;
            case EnvironKeys.RemoteAddr: value = context.Connection.RemoteIpAddress?.ToString() ?? ""; return true;
            case EnvironKeys.RemotePort: value = context.Connection.RemotePort.ToString(CultureInfo.InvariantCulture); return true;
            case EnvironKeys.RemoteUser:
                if (context.User.Identity is { IsAuthenticated: true, Name: { } user })
                {
                    value = user;
                    return true;
                }

                return false;
            case EnvironKeys.RequestUri: value = exchange.RawTarget; return true;
            case EnvironKeys.WsgiVersion: value = WsgiVersion; return true;
            case EnvironKeys.WsgiUrlScheme: value = request.Scheme; return true;
            case EnvironKeys.WsgiInput: value = exchange.Input; return true;
            case EnvironKeys.WsgiErrors: value = exchange.Errors; return true;
            case EnvironKeys.WsgiMultithread: value = True; return true;
            case EnvironKeys.WsgiMultiprocess: value = False; return true;
            case EnvironKeys.WsgiRunOnce: value = False; return true;
            case EnvironKeys.WsgiInputTerminated: value = True; return true;
            case EnvironKeys.WsgiFileWrapper: value = FileWrapperBody.Wrapper; return true;
            case EnvironKeys.HttpContext: value = context; return true;
            case EnvironKeys.RequestAborted: value = context.RequestAborted; return true;
        }

        var name = HeaderName(key);
        if (name is not null && request.Headers.TryGetValue(name, out var values) && values.Count > 0)
        {
            value = Join(name, values);
            return true;
        }

        return false;
    }

    private static bool TryHeader(HttpRequest request, string name, out object? value)
    {
        if (request.Headers.TryGetValue(name, out var values) && values.Count > 0)
        {
            // Repeated, they are joined as every other repeated header is.
            value = Join(name, values);
            return true;
        }

        value = null;
        return false;
    }

    /// <summary>The environ key of a request header, or null when the header is not listed as HTTP_*.</summary>
    private static string? HeaderKey(string headerName)
    {
        if (HeaderKeys.TryGetValue(headerName, out var known))
        {
            return known;
        }

        var key = NewHeaderKey(headerName);
        if (HeaderKeys.Count < HeaderKeyLimit)
        {
            // The same few headers come with every request: their keys are made once (bounded, as names are the client's).
            HeaderKeys.TryAdd(headerName, key);
        }

        return key;
    }

    private static string? NewHeaderKey(string headerName)
    {
        // A name holding '_' is dropped, so "X_Forwarded_For" cannot pose as "X-Forwarded-For".
        if (headerName.Contains('_') || headerName.StartsWith(':')
            || HeaderRules.IsSameName(headerName, HeaderNames.ContentType)
            || HeaderRules.IsSameName(headerName, HeaderNames.ContentLength))
        {
            return null;
        }

        return string.Create(EnvironKeys.HeaderPrefix.Length + headerName.Length, headerName, static (span, name) =>
        {
            EnvironKeys.HeaderPrefix.CopyTo(span);
            for (var i = 0; i < name.Length; i++)
            {
                var c = name[i];
                span[EnvironKeys.HeaderPrefix.Length + i] = c == '-' ? '_' : char.ToUpperInvariant(c);
            }
        });
    }

    /// <summary>The request header an HTTP_* key stands for, or null when the key cannot be one.</summary>
    private static string? HeaderName(string key)
    {
        if (key.Length <= EnvironKeys.HeaderPrefix.Length || !key.StartsWith(EnvironKeys.HeaderPrefix, StringComparison.Ordinal))
        {
            return null;
        }

        var rest = key.AsSpan(EnvironKeys.HeaderPrefix.Length);
        foreach (var c in rest)
        {
            if (!(char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c) || c == '_' || "!#$%&'*+.^`|~".Contains(c)))
            {
                return null;
            }
        }

        if (rest.SequenceEqual("CONTENT_TYPE") || rest.SequenceEqual("CONTENT_LENGTH"))
        {
            return null;
        }

        return rest.ToString().Replace('_', '-');
    }

    private static string Join(string name, StringValues values) =>
        values.Count == 1
            ? values[0] ?? ""
            : string.Join(HeaderRules.IsSameName(name, HeaderNames.Cookie) ? "; " : ", ", values.ToArray());

    private static string ServerName(HttpContext context)
    {
        var host = context.Request.Host;
        return host.HasValue ? host.Host : context.Connection.LocalIpAddress?.ToString() ?? "localhost";
    }

    private static string ServerPort(HttpContext context)
    {
        var request = context.Request;
        var port = request.Host.HasValue
            ? request.Host.Port ?? (request.IsHttps ? 443 : 80)
            : context.Connection.LocalPort;
        return port.ToString(CultureInfo.InvariantCulture);
    }
}

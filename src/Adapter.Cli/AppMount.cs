using System.Diagnostics.CodeAnalysis;

namespace Adapter.Cli;

/// <summary>One APP argument: <c>module:callable</c> mounted at <c>/</c>, or <c>/prefix=module:callable</c>.</summary>
internal sealed record AppMount(string Prefix, string Target)
{
    /// <summary>Parses an APP argument; on failure <paramref name="error"/> says what is wrong with it.</summary>
    public static bool TryParse(string text, [NotNullWhen(true)] out AppMount? mount, [NotNullWhen(false)] out string? error)
    {
        mount = null;
        if (text.StartsWith('-'))
        {
            error = $"unrecognized option '{text}'";
            return false;
        }

        var prefix = "/";
        var target = text;
        if (text.StartsWith('/'))
        {
            var equals = text.IndexOf('=');
            if (equals < 0)
            {
                error = $"'{text}' is not an APP: a mount is written /prefix=module:callable";
                return false;
            }

            prefix = text[..equals].TrimEnd('/');
            target = text[(equals + 1)..];
            if (prefix.Length == 0)
            {
                prefix = "/";
            }
            else if (prefix.AsSpan().IndexOfAny(":{}?#= \t") >= 0)
            {
                error = $"'{text}' is not an APP: the prefix '{prefix}' may not hold ':', '{{', '}}', '?', '#', '=' or spaces";
                return false;
            }
        }

        if (!IsTarget(target))
        {
            error = $"'{text}' is not an APP: expected module:callable (for example hello:app or mysite.wsgi:application)";
            return false;
        }

        mount = new AppMount(prefix, target);
        error = null;
        return true;
    }

    /// <summary>
    /// <c>module</c> or <c>module:callable</c>: a dotted Python name, then an attribute path or a factory call
    /// (<c>create_app('production')</c>), which <c>PythonGateway.Load</c> checks further.
    /// </summary>
    private static bool IsTarget(string target)
    {
        var colon = target.IndexOf(':');
        var module = colon < 0 ? target : target[..colon];
        if (module.Length == 0 || module.Split('.').Any(static part => !IsIdentifier(part)))
        {
            return false;
        }

        return colon < 0 || (colon < target.Length - 1 && !char.IsWhiteSpace(target[colon + 1]));
    }

    private static bool IsIdentifier(string part) =>
        part.Length > 0 && (char.IsLetter(part[0]) || part[0] == '_') && part.All(static c => char.IsLetterOrDigit(c) || c == '_');
}

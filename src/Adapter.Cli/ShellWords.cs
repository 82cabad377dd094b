using System.Text;

namespace Adapter.Cli;

/// <summary>Splits a string into words as Python's <c>shlex.split</c> does (POSIX rules), as gunicorn splits <c>GUNICORN_CMD_ARGS</c>.</summary>
internal static class ShellWords
{
    /// <exception cref="FormatException">A quote is not closed, or the text ends with a lone backslash.</exception>
    public static List<string> Split(string text)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        var inWord = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            switch (c)
            {
                case ' ' or '\t' or '\n' or '\r':
                    if (inWord)
                    {
                        words.Add(word.ToString());
                        word.Clear();
                        inWord = false;
                    }

                    break;
                case '\'':
                    var close = text.IndexOf('\'', i + 1);
                    if (close < 0)
                    {
                        throw new FormatException("no closing quotation");
                    }

                    word.Append(text, i + 1, close - i - 1);
                    i = close;
                    inWord = true;
                    break;
                case '"':
                    for (i++; ; i++)
                    {
                        if (i >= text.Length)
                        {
                            throw new FormatException("no closing quotation");
                        }

                        if (text[i] == '"')
                        {
                            break;
                        }

                        // Inside double quotes a backslash escapes only \ " $ ` and a line feed.
                        if (text[i] == '\\' && i + 1 < text.Length && text[i + 1] is '\\' or '"' or '$' or '`' or '\n')
                        {
                            i++;
                        }

                        word.Append(text[i]);
                    }

                    inWord = true;
                    break;
                case '\\':
                    if (++i >= text.Length)
                    {
                        throw new FormatException("no escaped character");
                    }

                    word.Append(text[i]);
                    inWord = true;
                    break;
                default:
                    word.Append(c);
                    inWord = true;
                    break;
            }
        }

        if (inWord)
        {
            words.Add(word.ToString());
        }

        return words;
    }
}

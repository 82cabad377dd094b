using System.Text;
using Microsoft.Extensions.Logging;

namespace Adapter;

/// <summary><c>wsgi.errors</c>: each line written goes to the host's logger as an error, with the request path.</summary>
internal sealed class GatewayErrorsWriter(ILogger logger, string path) : TextWriter
{
    private readonly StringBuilder _line = new();

    public override Encoding Encoding => Encoding.UTF8;

    public override void Write(char value)
    {
        lock (_line)
        {
            if (value == '\n')
            {
                EmitLine();
            }
            else if (value != '\r')
            {
                _line.Append(value);
            }
        }
    }

    public override void Write(string? value)
    {
        if (value is null)
        {
            return;
        }

        foreach (var c in value)
        {
            Write(c);
        }
    }

    public override void Write(char[] buffer, int index, int count)
    {
        for (var i = 0; i < count; i++)
        {
            Write(buffer[index + i]);
        }
    }

    /// <summary>Emits a partial line, so nothing written is lost when the request ends.</summary>
    public override void Flush()
    {
        lock (_line)
        {
            if (_line.Length > 0)
            {
                EmitLine();
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        Flush();
        base.Dispose(disposing);
    }

    /// <summary>
    /// Logs <paramref name="text"/> as one entry, its lines kept together (the Python bridge's <c>wsgi.errors</c>:
    /// one <c>write()</c>, a whole traceback, is one entry), after any partial line written before.
    /// </summary>
    public void WriteEntry(string text)
    {
        lock (_line)
        {
            if (_line.Length > 0)
            {
                EmitLine();
            }

            if (text.Length > 0)
            {
                GatewayLog.ErrorsLine(logger, path, LogText.EscapeKeepingLines(text));
            }
        }
    }

    private void EmitLine()
    {
        GatewayLog.ErrorsLine(logger, path, LogText.Escape(_line.ToString()));
        _line.Clear();
    }
}

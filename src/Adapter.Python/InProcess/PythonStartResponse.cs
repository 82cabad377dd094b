using System.Runtime.InteropServices;

namespace Adapter;

/// <summary>
/// <c>start_response</c> and <c>write</c> for in-process apps, as C-level functions bound to the request's id: the
/// arguments are checked for their Python types here and handed to the adapter's own start_response, whose rules
/// (SPEC §4: the status, header names and values, hop-by-hop headers, Content-Length, a second call only with
/// exc_info) are the ones every app meets. A refusal raises inside the app, as PEP 3333 asks: a wrong type as
/// <c>TypeError</c>, a wrong value as <c>ValueError</c>, a second call without exc_info as <c>AssertionError</c>; with
/// the headers already sent, exc_info's own exception is raised again.
/// </summary>
internal static unsafe class PythonStartResponse
{
    /// <summary><c>METH_FASTCALL | METH_KEYWORDS</c>: (self, args, count, keyword names).</summary>
    private const int FastCallKeywords = 0x0080 | 0x0002;

    /// <summary><c>Py_TPFLAGS_LIST_SUBCLASS</c>, <c>Py_TPFLAGS_TUPLE_SUBCLASS</c>, <c>Py_TPFLAGS_UNICODE_SUBCLASS</c>.</summary>
    private const ulong ListFlag = 1UL << 25, TupleFlag = 1UL << 26, StrFlag = 1UL << 28;

    private static CPython.MethodDefinition* s_startResponse;
    private static CPython.MethodDefinition* s_write;

    /// <summary>Defines the two functions once, at start-up.</summary>
    public static void Define()
    {
        s_startResponse = CPython.Define("start_response", (delegate* unmanaged<nint, nint*, nint, nint, nint>)&StartResponse, FastCallKeywords);
        s_write = CPython.Define("write", (delegate* unmanaged<nint, nint*, nint, nint>)&Write);
    }

    /// <summary>A new start_response function object for the request whose id is <paramref name="id"/> (a Python int).</summary>
    public static nint Create(nint id) => CPython.NewFunction(s_startResponse, id);

    [UnmanagedCallersOnly]
    private static nint StartResponse(nint id, nint* args, nint count, nint keywordNames)
    {
        try
        {
            var positional = count;
            var excInfo = positional > 2 ? args[2] : 0;
            var keywords = keywordNames == 0 ? 0 : CPython.TupleSize(keywordNames);
            for (var i = 0; i < keywords; i++)
            {
                if (CPython.ToText(CPython.TupleItem(keywordNames, (int)i)) != "exc_info" || excInfo != 0)
                {
                    return Raise(CPython.TypeError, "start_response() takes status, response_headers and an optional exc_info");
                }

                excInfo = args[positional + i];
            }

            if (positional + keywords is < 2 or > 3)
            {
                return Raise(CPython.TypeError, $"start_response() takes 2 or 3 arguments ({positional + keywords} given)");
            }

            var status = args[0];
            if (!CPython.HasFlag(status, StrFlag))
            {
                return Raise(CPython.TypeError, $"status must be a str, not {CPython.TypeName(status)}");
            }

            var list = args[1];
            if (!CPython.HasFlag(list, ListFlag))
            {
                return Raise(CPython.TypeError, $"response headers must be a list, not {CPython.TypeName(list)}");
            }

            var headers = Headers(list);
            if (headers is null)
            {
                return 0;
            }

            var call = PythonDispatch.Find(id);
            var replaced = excInfo != 0 && excInfo != CPython.None ? new ReplacedHead() : null;
            try
            {
                call.Start(CPython.ToText(status), headers, replaced);
            }
            catch (ReplacedHead again) when (ReferenceEquals(again, replaced))
            {
                // The headers are out: PEP 3333 re-raises the app's own exception, with its traceback.
                return RaiseAgain(excInfo);
            }
            catch (ArgumentException refused)
            {
                return Raise(CPython.ValueError, refused.Message);
            }
            catch (InvalidOperationException twice)
            {
                return Raise(CPython.AssertionError, twice.Message);
            }

            return CPython.NewFunction(s_write, id);
        }
        catch (Exception ex)
        {
            return Raise(CPython.RuntimeError, ex.Message);
        }
    }

    /// <summary>The headers as .NET pairs, or null with TypeError raised.</summary>
    private static List<(string Name, string Value)>? Headers(nint list)
    {
        var count = CPython.ListSize(list);
        var headers = new List<(string Name, string Value)>((int)count);
        for (var i = 0; i < count; i++)
        {
            var header = CPython.ListItem(list, i);
            if (!CPython.HasFlag(header, TupleFlag) || CPython.TupleSize(header) != 2)
            {
                Raise(CPython.TypeError, $"each response header must be a (name, value) tuple, not {CPython.Repr(header)}");
                return null;
            }

            var name = CPython.TupleItem(header, 0);
            var value = CPython.TupleItem(header, 1);
            if (!CPython.HasFlag(name, StrFlag) || !CPython.HasFlag(value, StrFlag))
            {
                Raise(CPython.TypeError, $"response header name and value must be str: {CPython.Repr(header)}");
                return null;
            }

            headers.Add((CPython.ToText(name), CPython.ToText(value)));
        }

        return headers;
    }

    /// <summary>write(data): sends at once, letting go of the GIL while the socket takes it.</summary>
    [UnmanagedCallersOnly]
    private static nint Write(nint id, nint* args, nint count)
    {
        PythonCall? call = null;
        try
        {
            if (count != 1 || !CPython.IsBytes(args[0]))
            {
                return Raise(CPython.TypeError, count != 1 ? "write() takes one argument" : $"write() takes bytes, not {CPython.TypeName(args[0])}");
            }

            call = PythonDispatch.Find(id);

            // Copied under the GIL: once it is let go, another thread may run code that owns the object.
            var data = CPython.BytesSpan(args[0]).ToArray();
            PythonDispatch.WithoutGil((call, data), static s => s.call.Write(s.data));

            CPython.IncRef(CPython.None);
            return CPython.None;
        }
        catch (Exception ex)
        {
            // The client gone: kept on the request, which is answered as that failure (PythonCall.HostFailure).
            call?.Failed(ex);
            return Raise(ex is InvalidOperationException ? CPython.AssertionError : CPython.OSError, ex.Message);
        }
    }

    /// <summary>Raises exc_info's exception (<c>exc_info[1]</c> with <c>exc_info[2]</c>) in the app.</summary>
    private static nint RaiseAgain(nint excInfo)
    {
        if (!CPython.HasFlag(excInfo, TupleFlag) || CPython.TupleSize(excInfo) != 3)
        {
            return Raise(CPython.TypeError, "exc_info must be a (type, value, traceback) tuple, as sys.exc_info() gives");
        }

        var value = CPython.TupleItem(excInfo, 1);
        var traceback = CPython.TupleItem(excInfo, 2);
        var type = CPython.TypeOf(value);
        CPython.IncRef(type);
        CPython.IncRef(value);
        if (traceback == CPython.None)
        {
            traceback = 0;
        }
        else
        {
            CPython.IncRef(traceback);
        }

        // RestoreError steals the three references taken above.
        CPython.RestoreError(type, value, traceback);
        return 0;
    }

    private static nint Raise(nint type, string message)
    {
        CPython.SetError(type, message);
        return 0;
    }

    /// <summary>Stands for the exc_info of a start_response call that replaces the status and headers.</summary>
    private sealed class ReplacedHead() : Exception("start_response was called again with exc_info before the body started.");
}

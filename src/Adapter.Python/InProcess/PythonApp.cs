namespace Adapter;

/// <summary>A Python WSGI callable as a <see cref="GatewayApp"/>, run on the Python worker pool.</summary>
/// <remarks>Owns one reference to <paramref name="callable"/>, kept for the process's life (apps are loaded once).</remarks>
internal sealed class PythonApp(nint callable, string target, GatewayWorkerPool pool) : IGatewayWorkerPoolOwner
{
    public GatewayWorkerPool Pool => pool;

    public IEnumerable<byte[]> Invoke(IDictionary<string, object?> environ, StartResponse startResponse)
    {
        // Encoded before taking the GIL: the GIL is held only for what needs Python.
        var entries = PythonEnvironDict.Fill(environ);
        var call = PythonCall.Register(
            startResponse,
            environ.TryGetValue(EnvironKeys.WsgiInput, out var input) ? input as Stream : null,
            environ.TryGetValue(EnvironKeys.WsgiErrors, out var errors) ? errors as TextWriter : null);
        // Called by the exchange itself, which walks the body on this thread: the GIL may stay while it sends a chunk.
        var direct = environ is GatewayEnviron { Exchange: var exchange } && exchange.CallsDirectly(this);
        PythonBody? body = null;
        var linger = false;
        var thread = PythonThread.Current;
        thread.Enter();
        try
        {
            thread.DiscardInterrupt();
            body = Call(entries, call, direct);

            // The first chunk is fetched while this thread holds the GIL anyway: a one-chunk response then takes the
            // GIL once in all (here, kept while the chunk goes out, for the end of the iterable), not once per step.
            body.Prefetch();
            linger = direct && !body.Ended;
            return body;
        }
        catch (Exception ex)
        {
            // An app that failed because the request body or a write failed answers as that failure does (413, 400, a client gone).
            var failure = call.HostFailure?.SourceException ?? (ex is PythonError python ? PythonAppException.From(python, target) : ex);

            try
            {
                // The iterable failed before the adapter had it: close() it here, still once.
                body?.Dispose();
            }
            catch (Exception closeFailure)
            {
                throw new AggregateException(failure, closeFailure);
            }
            finally
            {
                call.Dispose();
            }

            throw failure;
        }
        finally
        {
            if (linger)
            {
                thread.Linger();
            }
            else
            {
                thread.Exit();
            }
        }
    }

    /// <summary>Calls the app with the environ and a C-level start_response; the GIL must be held.</summary>
    /// <returns>The body over the iterable the app returned.</returns>
    /// <exception cref="PythonError">The app raised (wsgi.errors flushed already).</exception>
    private PythonBody Call(PythonEnvironDict entries, PythonCall call, bool direct)
    {
        var id = CPython.Int(call.Id);
        var input = CPython.Call(PythonRuntime.InputType, [id]);
        var errors = CPython.Call(PythonRuntime.ErrorsType, [id]);
        var startResponse = PythonStartResponse.Create(id);
        CPython.DecRef(id);
        nint result = 0;
        if (input != 0 && errors != 0 && startResponse != 0)
        {
            var dict = entries.ToDict(input, errors);
            result = CPython.Call(callable, [dict, startResponse]);
            CPython.DecRef(dict);
        }

        CPython.DecRef(input);
        CPython.DecRef(startResponse);
        if (result != 0)
        {
            return new PythonBody(result, errors, call, target, direct);
        }

        var failure = PythonError.Fetch();
        if (errors != 0)
        {
            // What the app wrote to wsgi.errors before it raised, as the iterable's close() would have flushed it.
            var flushed = CPython.CallMethod(PythonRuntime.FlushName, [errors]);
            if (flushed == 0)
            {
                CPython.ClearError();
            }

            CPython.DecRef(flushed);
            CPython.DecRef(errors);
        }

        throw failure;
    }
}

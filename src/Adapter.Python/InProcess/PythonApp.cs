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
        PythonBody? body = null;
        var thread = PythonThread.Current;
        thread.Enter();
        try
        {
            thread.DiscardInterrupt();
            var response = Call(entries, call.Id);
            body = new PythonBody(response, call, target);

            // The first chunk is fetched while this thread holds the GIL anyway: a one-chunk response then
            // takes the GIL twice in all (here, and for the end of the iterable), not once per step.
            body.Prefetch();
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
            thread.Exit();
        }
    }

    /// <summary>The bridge's <c>call(app, environ, id)</c>: the Response over the app's iterable (a new reference); the GIL must be held.</summary>
    private nint Call(PythonEnvironDict entries, long id)
    {
        var dict = entries.ToDict();
        var pythonId = CPython.Int(id);
        var response = pythonId == 0 ? 0 : CPython.Call(PythonRuntime.Call, [callable, dict, pythonId]);
        CPython.DecRef(pythonId);
        CPython.DecRef(dict);
        return response != 0 ? response : throw PythonError.Fetch();
    }
}

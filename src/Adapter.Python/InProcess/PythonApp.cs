using Python.Runtime;

namespace Adapter;

/// <summary>A Python WSGI callable as a <see cref="GatewayApp"/>, run on the Python worker pool.</summary>
internal sealed class PythonApp(PyObject callable, string target, GatewayWorkerPool pool) : IGatewayWorkerPoolOwner
{
    public GatewayWorkerPool Pool => pool;

    public IEnumerable<byte[]> Invoke(IDictionary<string, object?> environ, StartResponse startResponse)
    {
        // Encoded before taking the GIL: the GIL is held only for what needs Python.
        var (strings, others) = PythonEnviron.Encode(environ);
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
            using var pythonStrings = new PyString(strings);
            using var pythonOthers = new PyString(others);
            using var id = new PyInt(call.Id);
            body = new PythonBody(PythonRuntime.Run.Invoke(callable, pythonStrings, pythonOthers, id), call, target);

            // The first chunk is fetched while this thread holds the GIL anyway: a one-chunk response then
            // takes the GIL twice in all (here, and for the end of the iterable), not once per step.
            body.Prefetch();
            return body;
        }
        catch (Exception ex)
        {
            // An app that failed because the request body failed answers as that failure does (413, 400, a client gone).
            var failure = call.InputFailure?.SourceException ?? (ex is PythonException python ? PythonAppException.From(python, target) : ex);

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
}

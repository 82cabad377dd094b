using Python.Runtime;

namespace Adapter;

/// <summary>A Python WSGI callable as a <see cref="GatewayApp"/>.</summary>
internal sealed class PythonApp(PyObject callable, string target)
{
    public IEnumerable<byte[]> Invoke(IDictionary<string, object?> environ, StartResponse startResponse)
    {
        var call = new PythonCall(
            startResponse,
            environ.TryGetValue(EnvironKeys.WsgiInput, out var input) ? input as Stream : null,
            environ.TryGetValue(EnvironKeys.WsgiErrors, out var errors) ? errors as TextWriter : null);
        var thread = PythonThread.Current;
        thread.Enter();
        try
        {
            using var pythonEnviron = PythonEnviron.Build(environ);
            using var pythonCall = PyObject.FromManagedObject(call);
            var response = PythonRuntime.Run.Invoke(callable, pythonEnviron, pythonCall);
            return new PythonBody(response, target);
        }
        catch (PythonException ex)
        {
            throw PythonAppException.From(ex, target);
        }
        finally
        {
            thread.Exit();
        }
    }
}

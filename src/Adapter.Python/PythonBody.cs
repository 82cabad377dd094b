using System.Collections;
using Python.Runtime;

namespace Adapter;

/// <summary>
/// The Python app's iterable as the adapter's body: each chunk is fetched with the GIL held and copied out of
/// its <c>bytes</c> object, and is sent with the GIL let go. Dispose calls the iterable's <c>close()</c> once.
/// </summary>
internal sealed class PythonBody(PyObject response, string target) : IEnumerable<byte[]>, IEnumerator<byte[]>
{
    private PyObject? _response = response;
    private byte[] _current = [];

    public byte[] Current => _current;

    object IEnumerator.Current => _current;

    public IEnumerator<byte[]> GetEnumerator() => this;

    IEnumerator IEnumerable.GetEnumerator() => this;

    public bool MoveNext()
    {
        var response = _response ?? throw new ObjectDisposedException(nameof(PythonBody));
        var thread = PythonThread.Current;
        thread.Enter();
        try
        {
            using var chunk = response.InvokeMethod("next");
            if (chunk.IsNone())
            {
                return false;
            }

#pragma warning disable CS0612 // Handle: the raw pointer, to copy the bytes without marshalling each one.
            _current = PythonNative.CopyBytes(chunk.Handle);
#pragma warning restore CS0612
            return true;
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

    public void Reset() => throw new NotSupportedException();

    public void Dispose()
    {
        var response = Interlocked.Exchange(ref _response, null);
        if (response is null)
        {
            return;
        }

        var thread = PythonThread.Current;
        thread.Enter();
        try
        {
            response.InvokeMethod("close").Dispose();
        }
        catch (PythonException ex)
        {
            throw PythonAppException.From(ex, target);
        }
        finally
        {
            response.Dispose();
            thread.Exit();
        }
    }
}

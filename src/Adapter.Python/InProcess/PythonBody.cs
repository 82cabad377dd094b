using System.Collections;
using Python.Runtime;

namespace Adapter;

/// <summary>
/// The Python app's iterable as the adapter's body: each chunk is fetched with the GIL held and copied out of
/// its <c>bytes</c> object, and is sent with the GIL let go. Dispose calls the iterable's <c>close()</c> once.
/// </summary>
internal sealed class PythonBody(PyObject response, PythonCall call, string target) : IEnumerable<byte[]>, IEnumerator<byte[]>
{
    private PyObject? _response = response;
    private byte[] _current = [];
    private byte[]? _prefetched;

    // What the iterable's close() raised after the body went out (the bridge's description, with the traceback):
    // thrown by Dispose, so the adapter logs it as any failed close and the response still completes.
    private string? _closeFailure;

    public byte[] Current => _current;

    object IEnumerator.Current => _current;

    public IEnumerator<byte[]> GetEnumerator() => this;

    IEnumerator IEnumerable.GetEnumerator() => this;

    /// <summary>Fetches the first chunk; the GIL must be held.</summary>
    public void Prefetch() => _prefetched = Fetch();

    public bool MoveNext()
    {
        if (_prefetched is { } first)
        {
            _prefetched = null;
            _current = first;
            return true;
        }

        // Released at the end of the iterable (or by Dispose): nothing more to fetch.
        if (_response is null)
        {
            return false;
        }

        var thread = PythonThread.Current;
        thread.Enter();
        try
        {
            var chunk = Fetch();
            if (chunk is null)
            {
                return false;
            }

            _current = chunk;
            return true;
        }
        finally
        {
            thread.Exit();
        }
    }

    /// <summary>The next chunk, or null at the end, when the bridge has already called close(); the GIL must be held.</summary>
    private byte[]? Fetch()
    {
        var response = _response ?? throw new ObjectDisposedException(nameof(PythonBody));
        try
        {
            using var next = response.InvokeMethod("next");
            if (PyTuple.IsTupleType(next))
            {
                // start_response was called since the last chunk: its status and headers go first.
                using var head = next[0];
                call.Deliver(head.As<string>());
                using var chunk = next[1];
                return Chunk(chunk) ?? End(response);
            }

            if (PyString.IsStringType(next))
            {
                _closeFailure = next.As<string>();
                return End(response);
            }

            return Chunk(next) ?? End(response);
        }
        catch (PythonException ex)
        {
            call.InputFailure?.Throw();
            throw PythonAppException.From(ex, target);
        }
    }

    private static byte[]? Chunk(PyObject chunk) =>
#pragma warning disable CS0612 // Handle: the raw pointer, to copy the bytes without marshalling each one.
        chunk.IsNone() ? null : PythonNative.CopyBytes(chunk.Handle);
#pragma warning restore CS0612

    /// <summary>The bridge closed the iterable at its end: release it now, under this hold of the GIL, so Dispose needs none.</summary>
    private byte[]? End(PyObject response)
    {
        _response = null;
        response.Dispose();
        call.Dispose();
        return null;
    }

    public void Reset() => throw new NotSupportedException();

    public void Dispose()
    {
        var response = Interlocked.Exchange(ref _response, null);
        if (response is null)
        {
            if (Interlocked.Exchange(ref _closeFailure, null) is { } failure)
            {
                throw PythonAppException.FromClose(failure, target);
            }

            return;
        }

        var thread = PythonThread.Current;
        thread.Enter();
        try
        {
            // An interrupt that has not landed yet (the app left Python just as its request timed out) would land in
            // the bridge before the iterable's close() is called: taken back, so close() runs, once.
            thread.DiscardInterrupt();

            // Before the call is unregistered: close() flushes what the app left in wsgi.errors.
            response.InvokeMethod("close").Dispose();
        }
        catch (PythonException ex)
        {
            throw PythonAppException.From(ex, target);
        }
        finally
        {
            call.Dispose();
            response.Dispose();
            thread.Exit();
        }
    }
}

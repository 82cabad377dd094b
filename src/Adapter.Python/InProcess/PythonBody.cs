using System.Collections;

namespace Adapter;

/// <summary>
/// The Python app's iterable as the adapter's body: each chunk is fetched with the GIL held and copied out of
/// its <c>bytes</c> object, and is sent with the GIL let go. Dispose calls the iterable's <c>close()</c> once.
/// </summary>
/// <remarks>Owns the reference to the bridge's Response, <paramref name="response"/>, and drops it under the GIL.</remarks>
internal sealed class PythonBody(nint response, PythonCall call, string target) : IEnumerable<byte[]>, IEnumerator<byte[]>
{
    private nint _response = response;
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
        if (_response == 0)
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
        var response = _response != 0 ? _response : throw new ObjectDisposedException(nameof(PythonBody));
        var next = CPython.CallMethod(PythonRuntime.NextName, [response]);
        if (next == 0)
        {
            var error = PythonError.Fetch();
            call.HostFailure?.Throw();
            throw PythonAppException.From(error, target);
        }

        try
        {
            var type = CPython.TypeOf(next);
            if (type == CPython.BytesType)
            {
                return Chunk(next) ?? End(response);
            }

            if (type == CPython.TupleType)
            {
                // start_response was called since the last chunk: its status and headers go first.
                call.Deliver(CPython.ToText(CPython.TupleItem(next, 0)));
                return Chunk(CPython.TupleItem(next, 1)) ?? End(response);
            }

            if (type == CPython.StrType)
            {
                _closeFailure = CPython.ToText(next);
            }

            return End(response);
        }
        finally
        {
            CPython.DecRef(next);
        }
    }

    /// <summary>A copy of the chunk, or null for None (the end); an empty chunk is an empty array.</summary>
    private static byte[]? Chunk(nint chunk) => chunk == CPython.None ? null : CPython.BytesSpan(chunk).ToArray();

    /// <summary>The bridge closed the iterable at its end: release it now, under this hold of the GIL, so Dispose needs none.</summary>
    private byte[]? End(nint response)
    {
        _response = 0;
        CPython.DecRef(response);
        call.Dispose();
        return null;
    }

    public void Reset() => throw new NotSupportedException();

    public void Dispose()
    {
        var response = Interlocked.Exchange(ref _response, 0);
        if (response == 0)
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
            var result = CPython.CallMethod(PythonRuntime.CloseName, [response]);
            if (result == 0)
            {
                throw PythonAppException.From(PythonError.Fetch(), target);
            }

            CPython.DecRef(result);
        }
        finally
        {
            call.Dispose();
            CPython.DecRef(response);
            thread.Exit();
        }
    }
}

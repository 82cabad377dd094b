using System.Collections;

namespace Adapter;

/// <summary>
/// The Python app's iterable as the adapter's body, walked with <c>PyIter_Next</c>: each chunk is fetched with the GIL
/// held and copied out of its <c>bytes</c> object, and is sent with the GIL let go. The iterable's <c>close()</c> is
/// called exactly once, at its end or by Dispose, and wsgi.errors is flushed after it.
/// </summary>
/// <remarks>
/// Owns its references (the app's iterable, its iterator, the request's wsgi.errors) and drops them with the GIL held,
/// on the worker thread, never on the finalizer's.
/// </remarks>
/// <param name="result">The app's iterable (a reference this body owns).</param>
/// <param name="errors">The request's wsgi.errors (owned), flushed after close().</param>
/// <param name="call">The request's .NET side.</param>
/// <param name="target">The app's name, for messages.</param>
/// <param name="direct">The exchange walks this body on the thread that called the app (see <see cref="PythonThread.Linger"/>).</param>
internal sealed class PythonBody(nint result, nint errors, PythonCall call, string target, bool direct) : IEnumerable<byte[]>, IEnumerator<byte[]>
{
    private nint _result = result;
    private nint _errors = errors;
    private nint _iterator;
    private byte[] _current = [];
    private byte[]? _prefetched;

    // What the iterable's close() raised after the body went out (the description, with the traceback): thrown by
    // Dispose, so the adapter logs it as any failed close and the response still completes.
    private string? _closeFailure;

    public byte[] Current => _current;

    object IEnumerator.Current => _current;

    /// <summary>The iterable has ended and is released: the rest of the body needs no Python.</summary>
    public bool Ended => _result == 0;

    public IEnumerator<byte[]> GetEnumerator() => this;

    IEnumerator IEnumerable.GetEnumerator() => this;

    // The rest of a list or tuple body, copied with the first chunk; walked without the GIL.
    private byte[][]? _rest;
    private int _restAt;

    /// <summary>
    /// Fetches the first chunk; the GIL must be held. A list or tuple (the usual one-chunk body) is copied whole under
    /// this one hold of the GIL, and released: walking it runs no app code, so nothing is fetched early that the app
    /// would have produced later, and the rest of the response needs the GIL no more.
    /// </summary>
    public void Prefetch()
    {
        var type = CPython.TypeOf(_result);
        if (type != CPython.ListType && type != CPython.TupleType)
        {
            _prefetched = Fetch();
            return;
        }

        var count = (int)(type == CPython.ListType ? CPython.ListSize(_result) : CPython.TupleSize(_result));
        var chunks = new byte[count][];
        for (var i = 0; i < count; i++)
        {
            var item = type == CPython.ListType ? CPython.ListItem(_result, i) : CPython.TupleItem(_result, i);
            if (!CPython.IsBytes(item))
            {
                CPython.SetError(CPython.TypeError, $"the app yielded {CPython.TypeName(item)}; every chunk must be bytes");
                throw Failure();
            }

            chunks[i] = CPython.BytesSpan(item).ToArray();
            if (chunks[i].Length > 0)
            {
                call.BodyStarted = true;
            }
        }

        // Its end, as the iterator would have reached it: no close() on a list, wsgi.errors flushed, all released.
        End();
        _rest = chunks;
    }

    public bool MoveNext()
    {
        if (_rest is { } rest)
        {
            if (_restAt == rest.Length)
            {
                return false;
            }

            _current = rest[_restAt++];
            return true;
        }

        if (_prefetched is { } first)
        {
            _prefetched = null;
            _current = first;
            return true;
        }

        // Released at the end of the iterable (or by Dispose): nothing more to fetch.
        if (_result == 0)
        {
            return false;
        }

        var thread = PythonThread.Current;
        var linger = false;
        thread.Enter();
        try
        {
            var chunk = Fetch();
            if (chunk is null)
            {
                return false;
            }

            _current = chunk;
            linger = direct;
            return true;
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

    /// <summary>The next chunk, or null at the end (the iterable closed and released); the GIL must be held.</summary>
    private byte[]? Fetch()
    {
        if (_result == 0)
        {
            throw new ObjectDisposedException(nameof(PythonBody));
        }

        if (_iterator == 0)
        {
            _iterator = CPython.GetIter(_result);
            if (_iterator == 0)
            {
                throw Failure();
            }
        }

        var item = CPython.IterNext(_iterator);
        if (item == 0)
        {
            return CPython.ErrorOccurred() ? throw Failure() : End();
        }

        try
        {
            if (!CPython.IsBytes(item))
            {
                CPython.SetError(CPython.TypeError, $"the app yielded {CPython.TypeName(item)}; every chunk must be bytes");
                throw Failure();
            }

            var chunk = CPython.BytesSpan(item).ToArray();
            if (chunk.Length > 0)
            {
                call.BodyStarted = true;
            }

            return chunk;
        }
        finally
        {
            CPython.DecRef(item);
        }
    }

    /// <summary>The pending Python exception as the request's failure: the host's own when the app failed because of it.</summary>
    private Exception Failure()
    {
        var error = PythonError.Fetch();
        call.HostFailure?.Throw();
        return PythonAppException.From(error, target);
    }

    /// <summary>
    /// The iterable ended: closes it, under this hold of the GIL, so Dispose needs none. A close() that raises once body
    /// bytes went out cannot change the response any more (gunicorn completes it too): kept for Dispose to report.
    /// Before any body it fails the request, a 500.
    /// </summary>
    private byte[]? End()
    {
        var failure = Close();
        Release();
        if (failure is not null)
        {
            if (!call.BodyStarted)
            {
                throw PythonAppException.From(failure, target);
            }

            _closeFailure = failure.Description;
        }

        return null;
    }

    /// <summary>The iterable's close(), if it has one, then wsgi.errors' flush; what failed first, or null.</summary>
    private PythonError? Close()
    {
        PythonError? failure = null;

        // A list or tuple (the usual one-chunk body) has no close(): not looked up, as the failed look-up raises and
        // clears an AttributeError, which costs more than the rest of the request's Python.
        var type = CPython.TypeOf(_result);
        var close = type == CPython.ListType || type == CPython.TupleType ? 0 : CPython.GetAttr(_result, "close\0"u8);
        if (close == 0)
        {
            // No close(): nothing to call (AttributeError, as getattr with a default takes it).
            CPython.ClearError();
        }
        else
        {
            var closed = CPython.Call(close, []);
            CPython.DecRef(close);
            failure = closed == 0 ? PythonError.Fetch() : Drop(closed);
        }

        // What the app wrote to wsgi.errors without ending its line; before the call is unregistered.
        var flushed = CPython.CallMethod(PythonRuntime.FlushName, [_errors]);
        return failure ?? (flushed == 0 ? PythonError.Fetch() : Drop(flushed));
    }

    private static PythonError? Drop(nint item)
    {
        CPython.DecRef(item);
        return null;
    }

    /// <summary>Drops every reference and unregisters the request; the GIL must be held.</summary>
    private void Release()
    {
        CPython.DecRef(_iterator);
        CPython.DecRef(_result);
        CPython.DecRef(_errors);
        _iterator = _result = _errors = 0;
        call.Dispose();
    }

    public void Reset() => throw new NotSupportedException();

    public void Dispose()
    {
        if (_result == 0)
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
            // close() itself: taken back, so close() runs, once.
            thread.DiscardInterrupt();
            if (Close() is { } failure)
            {
                throw PythonAppException.From(failure, target);
            }
        }
        finally
        {
            Release();
            thread.Exit();
        }
    }
}

using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.ExceptionServices;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;

namespace Adapter;

/// <summary>
/// start_response, write and the body pump's sending side (SPEC §4). Headers are committed at most once,
/// with the first non-empty chunk or when the body ends; each chunk is flushed before the app is asked
/// for the next, so a slow client slows the app instead of piling the response up in memory.
/// </summary>
internal sealed class GatewayResponse
{
    private readonly GatewayExchange _exchange;
    private readonly Action<byte[]> _write;
    private readonly GatewayBodyWriter _body;
    private IReadOnlyList<(string Name, string Value)> _headers = [];
    private int _statusCode;
    private string? _reason;
    private long _declaredLength = -1;
    private long _impliedLength = -1;
    private long _sent;
    private bool _started;
    private bool _committed;
    private bool _bodyAllowed;
    private bool _warned;

    public GatewayResponse(GatewayExchange exchange)
    {
        _exchange = exchange;
        _write = Write;
        var options = exchange.Options;
        _body = new GatewayBodyWriter(
            new KestrelResponsePipe(exchange),
            options.ResponseBufferSize,
            options.ClientTimeout,
            spoolBudget: exchange.SpoolBudget,
            spoolLimit: options.ResponseSpoolLimit);
        StartResponse = Start;
    }

    public StartResponse StartResponse { get; }

    public static bool CanSendFile(FileStream file) => file.CanSeek && Path.IsPathFullyQualified(file.Name) && File.Exists(file.Name);

    private Action<byte[]> Start(string status, IReadOnlyList<(string Name, string Value)> headers, Exception? excInfo)
    {
        ArgumentNullException.ThrowIfNull(status);
        ArgumentNullException.ThrowIfNull(headers);
        if (excInfo is not null)
        {
            if (_committed)
            {
                // Too late to replace the status: PEP 3333 re-raises the app's own error.
                ExceptionDispatchInfo.Throw(excInfo);
            }
        }
        else if (_started)
        {
            throw new InvalidOperationException("start_response was already called; call it again only with excInfo set, before any body is sent.");
        }

        var (code, reason) = HeaderRules.ParseStatus(status);
        var length = HeaderRules.Validate(headers);

        // A repeated call replaces everything the first one set.
        _statusCode = code;
        _reason = reason;
        _headers = headers;
        _declaredLength = length;
        _started = true;
        return _write;
    }

    /// <summary>Notes what the body tells before it is iterated: a one-element collection's length.</summary>
    public void Prepare(IEnumerable<byte[]> body)
    {
        if (body is ICollection<byte[]> { Count: 1 } single)
        {
            var only = single is IList<byte[]> list ? list[0] : single.First();
            _impliedLength = only?.Length ?? -1;
        }
    }

    public void WriteChunk(byte[]? chunk)
    {
        if (chunk is null)
        {
            throw new InvalidOperationException("The gateway app yielded a null chunk; every chunk must be a byte array.");
        }

        _exchange.BeginAdapterWork();
        try
        {
            Send(chunk);
        }
        finally
        {
            _exchange.EndAdapterWork(handOff: true);
        }
    }

    /// <summary>The body ended: commit headers if nothing did, and close the connection on a short body.</summary>
    public void Complete()
    {
        _exchange.BeginAdapterWork();
        try
        {
            Commit();

            // Bytes still queued behind a pending flush go out at the client's pace; the request waits for
            // them (WhenBodyIdle), this worker does not.
            if (_bodyAllowed && _declaredLength >= 0 && _sent < _declaredLength)
            {
                // The client must see a short body, never wait for bytes that will not come: Kestrel ends the
                // connection (FIN after the bytes sent) when a response falls short of its Content-Length.
                GatewayLog.ContentLengthShort(_exchange.Logger, _sent, _declaredLength, _exchange.Method, _exchange.LogPath);
            }
        }
        finally
        {
            _exchange.EndAdapterWork(handOff: true);
        }
    }

    public void SendFile(FileStream file)
    {
        _exchange.BeginAdapterWork();
        try
        {
            Commit();

            if (!_bodyAllowed)
            {
                return;
            }

            var start = file.Position;
            var count = Math.Max(0, file.Length - start);
            count = Fit(count);
            if (count == 0)
            {
                return;
            }

            _body.WaitUntilIdle();
            var context = _exchange.Context;
            try
            {
                context.Features.GetRequiredFeature<IHttpResponseBodyFeature>()
                    .SendFileAsync(file.Name, start, count, context.RequestAborted)
                    .GetAwaiter().GetResult();
            }
            catch (OperationCanceledException ex)
            {
                throw new ClientDisconnectedException(ex);
            }

            _sent += count;
            if (context.RequestAborted.IsCancellationRequested)
            {
                throw new ClientDisconnectedException();
            }
        }
        finally
        {
            _exchange.EndAdapterWork(handOff: true);
        }
    }

    /// <summary>
    /// A body chunk from an app that runs elsewhere (a worker process), on the request's own flow: as
    /// <see cref="WriteChunk"/>, but waiting for a slow client without a thread. <paramref name="chunk"/> must stay
    /// valid until the task completes.
    /// </summary>
    public ValueTask WriteChunkAsync(ReadOnlyMemory<byte> chunk)
    {
        if (chunk.IsEmpty)
        {
            return ValueTask.CompletedTask;
        }

        Commit();
        if (!_bodyAllowed)
        {
            WarnBodyDropped();
            return ValueTask.CompletedTask;
        }

        if (_exchange.Context.RequestAborted.IsCancellationRequested)
        {
            throw new ClientDisconnectedException();
        }

        var count = (int)Fit(chunk.Length);
        if (count == 0)
        {
            return ValueTask.CompletedTask;
        }

        _sent += count;
        return _body.SendAsync(chunk[..count]);
    }

    /// <summary><see cref="SendFile"/> on the request's own flow, once every queued byte is out.</summary>
    public async ValueTask SendFileAsync(FileStream file)
    {
        Commit();
        if (!_bodyAllowed)
        {
            return;
        }

        var start = file.Position;
        var count = Fit(Math.Max(0, file.Length - start));
        if (count == 0)
        {
            return;
        }

        await _body.WhenIdle().ConfigureAwait(false);
        if (_body.HasFailed)
        {
            throw new ClientDisconnectedException();
        }

        var context = _exchange.Context;
        try
        {
            await context.Features.GetRequiredFeature<IHttpResponseBodyFeature>()
                .SendFileAsync(file.Name, start, count, context.RequestAborted).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex)
        {
            throw new ClientDisconnectedException(ex);
        }

        _sent += count;
        if (context.RequestAborted.IsCancellationRequested)
        {
            throw new ClientDisconnectedException();
        }
    }

    private void Write(byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (!_started)
        {
            throw new InvalidOperationException("write was called before start_response.");
        }

        WriteChunk(data);
    }

    private void Send(byte[] chunk)
    {
        // Empty chunks send nothing, headers included.
        if (chunk.Length == 0)
        {
            return;
        }

        Commit();

        if (!_bodyAllowed)
        {
            WarnBodyDropped();
            return;
        }

        var context = _exchange.Context;
        var aborted = context.RequestAborted;
        if (aborted.IsCancellationRequested)
        {
            throw new ClientDisconnectedException();
        }

        var count = (int)Fit(chunk.Length);
        if (count == 0)
        {
            return;
        }

        _body.Send(chunk.AsSpan(0, count));
        _sent += count;
    }

    private void WarnBodyDropped()
    {
        if (!_warned && _statusCode is 204 or 304)
        {
            _warned = true;
            GatewayLog.BodyDropped(_exchange.Logger, _statusCode, _exchange.Method, _exchange.LogPath);
        }
    }

    /// <summary>Completes when every byte handed over is flushed or the client is gone; the request ends only then.</summary>
    public Task WhenBodyIdle() => _body.WhenIdle();

    /// <summary>The body writer's state in words (diagnostics).</summary>
    public string DescribeBody() => $"{_sent} bytes handed over; {_body.Describe()}";

    /// <summary>True when the client went away while the body was being sent.</summary>
    public bool BodyFailed => _body.HasFailed;

    /// <summary>Cuts a chunk down to what the declared Content-Length still allows.</summary>
    private long Fit(long count)
    {
        if (_declaredLength < 0)
        {
            return count;
        }

        var room = _declaredLength - _sent;
        if (count <= room)
        {
            return count;
        }

        if (!_warned)
        {
            _warned = true;
            GatewayLog.ContentLengthExceeded(_exchange.Logger, _declaredLength, _exchange.Method, _exchange.LogPath);
        }

        return Math.Max(0, room);
    }

    /// <summary>Hands the status and headers to the server, the first time it is called; later calls do nothing.</summary>
    private void Commit()
    {
        if (_committed)
        {
            return;
        }

        if (!_started)
        {
            throw new InvalidOperationException("The gateway app did not call start_response before its body ended or its first chunk.");
        }

        var context = _exchange.Context;
        var response = context.Response;
        response.StatusCode = _statusCode;
        if (_reason is not null)
        {
            context.Features.GetRequiredFeature<IHttpResponseFeature>().ReasonPhrase = _reason;
        }

        var target = response.Headers;
        for (var i = 0; i < _headers.Count; i++)
        {
            var (name, value) = _headers[i];
            if (HeaderRules.IsSameName(name, HeaderNames.ContentLength))
            {
                continue;
            }

            // The app's first value of a name replaces the server's (Date, Server); later ones add to it.
            if (IsFirstOccurrence(i))
            {
                target[name] = value;
            }
            else
            {
                target.Append(name, value);
            }
        }

        var isHead = HttpMethods.IsHead(context.Request.Method);
        _bodyAllowed = !isHead && _statusCode >= 200 && _statusCode != 204 && _statusCode != 304;
        if (_statusCode >= 200 && _statusCode != 204)
        {
            var length = _declaredLength >= 0 ? _declaredLength : _statusCode == 304 ? -1 : _impliedLength;
            if (length >= 0)
            {
                response.ContentLength = length;
                _declaredLength = length;
            }
        }

        _committed = true;
    }

    private bool IsFirstOccurrence(int index)
    {
        var name = _headers[index].Name;
        for (var i = 0; i < index; i++)
        {
            if (HeaderRules.IsSameName(_headers[i].Name, name))
            {
                return false;
            }
        }

        return true;
    }
}

using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Adapter;

/// <summary>
/// The adapter's instruments, on the meter <c>Adapter</c>. Invariant: every +1 on an up-down counter is
/// matched by a −1 on every path, so idle gauges read 0.
/// </summary>
internal sealed class GatewayMetrics : IDisposable
{
    public const string MeterName = "Adapter";
    public const string ResultTag = "gateway.result";
    public const string WorkerStateTag = "gateway.worker.state";
    public const string PoolTag = "gateway.pool";

    private readonly Meter _meter;
    private readonly UpDownCounter<long> _active;
    private readonly UpDownCounter<long> _queued;
    private readonly Histogram<double> _duration;
    private readonly Histogram<double> _timeInQueue;
    private readonly Counter<long> _requests;

    /// <param name="meterFactory">The host's meter factory, if any.</param>
    /// <param name="workers">Reads the pool's idle, busy and stuck worker counts.</param>
    /// <param name="spool">The pool's spool files, read by the spool gauges.</param>
    /// <param name="pool">Names a pool other than the host's (its meter carries the tag <c>gateway.pool</c>), or null.</param>
    public GatewayMetrics(IMeterFactory? meterFactory, Func<(long Idle, long Busy, long Stuck)> workers, SpoolBudget spool, string? pool = null)
    {
        var options = new MeterOptions(MeterName)
        {
            Tags = pool is null ? null : [new KeyValuePair<string, object?>(PoolTag, pool)],
        };
        _meter = meterFactory?.Create(options) ?? new Meter(options);
        _active = _meter.CreateUpDownCounter<long>("gateway.active_requests", "{request}", "Requests whose app is running on a worker.");
        _queued = _meter.CreateUpDownCounter<long>("gateway.queued_requests", "{request}", "Requests waiting for a worker.");
        _duration = _meter.CreateHistogram<double>("gateway.request.duration", "s", "Time from a request's arrival at the adapter to its answer.");
        _timeInQueue = _meter.CreateHistogram<double>("gateway.request.time_in_queue", "s", "Time a request waited for a worker.");
        _requests = _meter.CreateCounter<long>("gateway.requests", "{request}", "Requests handled, by result.");
        _meter.CreateObservableUpDownCounter<long>(
            "gateway.workers",
            IEnumerable<Measurement<long>> () =>
            {
                var (idle, busy, stuck) = workers();
                return
                [
                    new Measurement<long>(idle, new KeyValuePair<string, object?>(WorkerStateTag, "idle")),
                    new Measurement<long>(Math.Max(0, busy - stuck), new KeyValuePair<string, object?>(WorkerStateTag, "busy")),
                    new Measurement<long>(stuck, new KeyValuePair<string, object?>(WorkerStateTag, "stuck")),
                ];
            },
            "{worker}",
            "Worker threads, by state.");
        _meter.CreateObservableUpDownCounter("gateway.spool.usage", () => spool.Used, "By", "Bytes held in spool files (slow clients' responses and request bodies read ahead).");
        _meter.CreateObservableUpDownCounter("gateway.spool.files", () => spool.Files, "{file}", "Spool files open.");
    }

    public void Queued() => _queued.Add(1);

    public void Dequeued(long enqueuedAt)
    {
        _queued.Add(-1);
        if (_timeInQueue.Enabled)
        {
            _timeInQueue.Record(Stopwatch.GetElapsedTime(enqueuedAt).TotalSeconds);
        }
    }

    public void Started() => _active.Add(1);

    public void Stopped() => _active.Add(-1);

    /// <summary>Counts one answered request; called exactly once per request.</summary>
    public void Answered(GatewayResult result, long arrivedAt)
    {
        if (!_requests.Enabled && !_duration.Enabled)
        {
            return;
        }

        var tag = new KeyValuePair<string, object?>(ResultTag, Name(result));
        _requests.Add(1, tag);
        _duration.Record(Stopwatch.GetElapsedTime(arrivedAt).TotalSeconds, tag);
    }

    private static string Name(GatewayResult result) => result switch
    {
        GatewayResult.Completed => "completed",
        GatewayResult.Rejected => "rejected",
        GatewayResult.TimedOut => "timed_out",
        GatewayResult.Canceled => "canceled",
        _ => "failed",
    };

    public void Dispose() => _meter.Dispose();
}

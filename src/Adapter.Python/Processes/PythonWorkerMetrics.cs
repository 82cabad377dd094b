using System.Diagnostics.Metrics;

namespace Adapter;

/// <summary>
/// The Python worker processes' instruments, on the adapter's meter (<c>Adapter</c>, tag <c>gateway.pool=python</c>):
/// <c>gateway.worker_processes</c> by <c>gateway.worker.state</c> and <c>gateway.worker_process.restarts</c> by
/// <c>gateway.restart.reason</c>.
/// </summary>
internal sealed class PythonWorkerMetrics : IDisposable
{
    public const string ReasonTag = "gateway.restart.reason";

    private readonly Meter _meter;
    private readonly Counter<long> _restarts;
    private Func<PythonWorkerProcess[]> _workers = static () => [];

    public PythonWorkerMetrics(IMeterFactory? meterFactory)
    {
        var options = new MeterOptions(GatewayMetrics.MeterName)
        {
            Tags = [new KeyValuePair<string, object?>(GatewayMetrics.PoolTag, "python")],
        };
        _meter = meterFactory?.Create(options) ?? new Meter(options);
        _restarts = _meter.CreateCounter<long>("gateway.worker_process.restarts", "{process}", "Python worker processes replaced, by reason.");
        _meter.CreateObservableUpDownCounter<long>(
            "gateway.worker_processes",
            IEnumerable<Measurement<long>> () =>
            {
                Span<long> counts = stackalloc long[4];
                foreach (var worker in _workers())
                {
                    counts[(int)worker.State]++;
                }

                return
                [
                    Measure(counts, PythonWorkerState.Starting, "starting"),
                    Measure(counts, PythonWorkerState.Idle, "idle"),
                    Measure(counts, PythonWorkerState.Busy, "busy"),
                    Measure(counts, PythonWorkerState.Stopping, "stopping"),
                ];
            },
            "{process}",
            "Python worker processes, by state.");
    }

    /// <summary>Where the gauge reads the workers from.</summary>
    public void ObserveWorkers(Func<PythonWorkerProcess[]> workers) => _workers = workers;

    public void Restarted(RestartReason reason)
    {
        if (_restarts.Enabled)
        {
            _restarts.Add(1, new KeyValuePair<string, object?>(ReasonTag, reason switch
            {
                RestartReason.Crash => "crash",
                RestartReason.Timeout => "timeout",
                RestartReason.MaxRequests => "max_requests",
                _ => "reload",
            }));
        }
    }

    public void Dispose() => _meter.Dispose();

    private static Measurement<long> Measure(Span<long> counts, PythonWorkerState state, string name) =>
        new(counts[(int)state], new KeyValuePair<string, object?>(GatewayMetrics.WorkerStateTag, name));
}

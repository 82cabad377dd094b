using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Adapter.Tests;

/// <summary>Listens to one host's <c>Adapter</c> meter (by its factory scope, so parallel tests do not mix).</summary>
internal sealed class MetricsCollector : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _sums = new();
    private readonly ConcurrentQueue<(string Name, double Value, string Tags)> _records = new();

    public MetricsCollector(IMeterFactory factory)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Adapter" && ReferenceEquals(instrument.Meter.Scope, factory))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Add(instrument.Name, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Add(instrument.Name, value, tags));
        _listener.Start();
    }

    /// <summary>The running sum of a counter, by instrument name and tags (<c>name|key=value</c>).</summary>
    public long Sum(string key) => _sums.TryGetValue(key, out var sum) ? sum : 0;

    public int Count(string name) => _records.Count(r => r.Name == name);

    /// <summary>The latest observation of the observable instruments, by tags.</summary>
    public Dictionary<string, long> Observe(string name)
    {
        var before = _records.Count;
        _listener.RecordObservableInstruments();
        return _records.Skip(before).Where(r => r.Name == name).ToDictionary(static r => r.Tags, static r => (long)r.Value);
    }

    public async Task WaitUntilAsync(Func<MetricsCollector, bool> condition)
    {
        var deadline = DateTime.UtcNow + TestHost.Wait;
        while (!condition(this))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("Metrics never reached the expected state: " + string.Join(", ", _sums.Select(static p => $"{p.Key}={p.Value}")));
            }

            await Task.Delay(20);
        }
    }

    private void Add(string name, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var tagText = string.Join(",", tags.ToArray().Select(static t => $"{t.Key}={t.Value}"));
        _records.Enqueue((name, value, tagText));
        var key = tagText.Length == 0 ? name : $"{name}|{tagText}";
        _sums.AddOrUpdate(key, (long)value, (_, old) => old + (long)value);
        if (tagText.Length > 0)
        {
            _sums.AddOrUpdate(name, (long)value, (_, old) => old + (long)value);
        }
    }

    public void Dispose() => _listener.Dispose();
}

using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;

namespace Adapter.Benchmarks;

/// <summary>
/// One request's trip from the calling thread to a dedicated worker, through a trivial app, and back,
/// beside the same app run on the thread pool (what the adapter must not do, but the cost to beat).
/// </summary>
[MemoryDiagnoser]
public class HandOffBenchmarks
{
    private static readonly GatewayApp EmptyApp = static (_, start) =>
    {
        start("204 No Content", []);
        return [];
    };

    private GatewayWorkerPool _pool = null!;
    private GatewayHandler _handler = null!;
    private HttpContext _context = null!;

    [GlobalSetup]
    public void Setup()
    {
        _pool = Requests.CreatePool();
        _handler = new GatewayHandler(EmptyApp, _pool);
        _context = Requests.Create();
    }

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();

    [Benchmark(Baseline = true, Description = "thread pool: Task.Run(app)")]
    public Task ThreadPool() => Task.Run(() => EmptyApp(new Dictionary<string, object?>(), static (_, _, _) => static _ => { }));

    [Benchmark(Description = "gateway worker: enqueue, run, complete")]
    public Task Worker() => _handler.InvokeAsync(_context);
}

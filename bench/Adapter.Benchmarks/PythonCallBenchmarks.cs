using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Adapter.Benchmarks;

/// <summary>
/// One in-process Python call, as a gateway worker thread makes it: the environ handed to CPython, the app called,
/// its iterable walked and closed. No socket: start_response's write goes nowhere. Needs Debian's python3 with
/// its libpython (<c>/usr/bin/python3</c>, or <c>BENCH_PYTHON</c>).
/// </summary>
[MemoryDiagnoser]
public class PythonCallBenchmarks
{
    private PythonGateway _gateway = null!;
    private GatewayHandler _handler = null!;
    private GatewayApp _empty = null!;
    private GatewayApp _hello = null!;
    private HttpContext _typical = null!;
    private HttpContext _twentyHeaders = null!;

    [GlobalSetup]
    public void Setup()
    {
        var options = new PythonGatewayOptions
        {
            Processes = 0,
            PythonExecutable = Environment.GetEnvironmentVariable("BENCH_PYTHON") ?? "/usr/bin/python3",
        };
        options.Paths.Add(Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "peers")));
        _gateway = new PythonGateway(Options.Create(options), NullLoggerFactory.Instance);
        _empty = _gateway.Load("call_wsgi:empty");
        _hello = _gateway.Load("call_wsgi:hello");
        _handler = new GatewayHandler(_hello, Requests.CreatePool());
        _typical = Requests.Create();
        _twentyHeaders = Requests.Create();
        for (var i = _twentyHeaders.Request.Headers.Count; i < 20; i++)
        {
            _twentyHeaders.Request.Headers[$"X-Extra-{i}"] = $"value number {i}";
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _gateway.Dispose();

    [Benchmark(Description = "empty app (204, no body)")]
    public long Empty() => Call(_empty, _typical);

    [Benchmark(Description = "hello (one chunk), 7 headers")]
    public long Hello() => Call(_hello, _typical);

    [Benchmark(Description = "hello, 20-header environ")]
    public long TwentyHeaders() => Call(_hello, _twentyHeaders);

    [Benchmark(Description = "the environ encoded for CPython, without the GIL (part of each call)")]
    public object Fill() => PythonEnvironDict.Fill(new GatewayExchange(_handler, _typical, 0).Environ);

    private long Call(GatewayApp app, HttpContext context)
    {
        var exchange = new GatewayExchange(_handler, context, 0);
        long length = 0;
        using var body = app(exchange.Environ, exchange.Response.StartResponse).GetEnumerator();
        while (body.MoveNext())
        {
            length += body.Current.Length;
        }

        return length;
    }
}

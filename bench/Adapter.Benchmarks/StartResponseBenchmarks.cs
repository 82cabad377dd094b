using BenchmarkDotNet.Attributes;

namespace Adapter.Benchmarks;

/// <summary>start_response: status parsing and header validation, alone and through a fresh response.</summary>
[MemoryDiagnoser]
public class StartResponseBenchmarks : ExchangeBenchmarks
{
    private static readonly (string Name, string Value)[] Headers =
    [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", "5120"),
        ("Cache-Control", "private, max-age=0"),
        ("Set-Cookie", "session=4f2a9c; Path=/; HttpOnly"),
        ("Vary", "Accept-Encoding"),
        ("X-Frame-Options", "DENY"),
    ];

    [Benchmark(Description = "parse \"200 OK\" + validate 6 headers")]
    public long Validate() => HeaderRules.ParseStatus("200 OK").Code + HeaderRules.Validate(Headers);

    [Benchmark(Description = "start_response on a new exchange")]
    public object StartResponse() => NewExchange().Response.StartResponse("200 OK", Headers, null);
}

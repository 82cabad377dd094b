using BenchmarkDotNet.Attributes;

namespace Adapter.Benchmarks;

/// <summary>Building the environ, reading the keys a typical app reads, and copying it whole.</summary>
[MemoryDiagnoser]
public class EnvironBenchmarks : ExchangeBenchmarks
{
    [Benchmark(Description = "new exchange (environ, start_response, input)")]
    public object Construct() => NewExchange();

    [Benchmark(Description = "new exchange + 6 typical lookups")]
    public int Lookups()
    {
        var environ = NewExchange().Environ;
        var length = 0;
        length += ((string)environ["REQUEST_METHOD"]!).Length;
        length += ((string)environ["PATH_INFO"]!).Length;
        length += ((string)environ["QUERY_STRING"]!).Length;
        length += ((string)environ["HTTP_USER_AGENT"]!).Length;
        length += ((string)environ["HTTP_COOKIE"]!).Length;
        length += environ.ContainsKey("CONTENT_TYPE") ? 1 : 0;
        return length;
    }

    [Benchmark(Description = "new exchange + copy every key (enumeration)")]
    public int Materialize() => NewExchange().Environ.Count;
}

using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;

namespace Adapter.Benchmarks;

/// <summary>What the benchmarks that build exchanges share: a handler on an idle pool and one request.</summary>
public abstract class ExchangeBenchmarks
{
    private static readonly GatewayApp NoApp = static (_, _) => [];
    private GatewayHandler _handler = null!;
    private HttpContext _context = null!;

    [GlobalSetup]
    public void Setup()
    {
        _handler = new GatewayHandler(NoApp, Requests.CreatePool());
        _context = Requests.Create();
    }

    /// <summary>A new exchange for the request, as the middleware makes one per request.</summary>
    private protected GatewayExchange NewExchange() => new(_handler, _context, 0);
}

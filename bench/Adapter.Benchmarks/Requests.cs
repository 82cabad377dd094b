using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace Adapter.Benchmarks;

/// <summary>The request every benchmark runs against: a browser-like GET with a query and a dozen headers.</summary>
internal static class Requests
{
    public static GatewayWorkerPool CreatePool() => new(new GatewayOptions(), NullLoggerFactory.Instance);

    public static DefaultHttpContext Create()
    {
        var context = new DefaultHttpContext();
        var request = context.Request;
        request.Method = HttpMethods.Get;
        request.Scheme = "http";
        request.Host = new HostString("localhost", 5000);
        request.Path = "/articles/2026/gateway";
        request.QueryString = new QueryString("?page=2&sort=date");
        request.Protocol = "HTTP/1.1";
        var headers = request.Headers;
        headers.UserAgent = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/140.0";
        headers.Accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        headers.AcceptLanguage = "en-GB,en;q=0.5";
        headers.AcceptEncoding = "gzip, deflate, br";
        headers.Cookie = "session=4f2a9c; theme=dark";
        headers.Referer = "http://localhost:5000/articles";
        headers["X-Request-Id"] = "b7e6a1d0";
        return context;
    }
}

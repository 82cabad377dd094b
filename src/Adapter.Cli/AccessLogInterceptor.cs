using System.Net;
using Microsoft.AspNetCore.HttpLogging;

namespace Adapter.Cli;

/// <summary>
/// Adds to each HTTP logging entry what an access log line needs beyond the request and status: the client's
/// address (after <c>UseForwardedHeaders</c>, so the client's and not the proxy's), the response's length, the
/// Referer and the User-Agent.
/// </summary>
internal sealed class AccessLogInterceptor : IHttpLoggingInterceptor
{
    public const string RemoteAddress = "RemoteAddress";
    public const string ResponseLength = "ResponseLength";
    public const string Referer = "Referer";
    public const string UserAgent = "UserAgent";

    public ValueTask OnRequestAsync(HttpLoggingInterceptorContext logContext)
    {
        var context = logContext.HttpContext;
        logContext.AddParameter(RemoteAddress, Address(context.Connection.RemoteIpAddress));
        logContext.AddParameter(Referer, context.Request.Headers.Referer.ToString());
        logContext.AddParameter(UserAgent, context.Request.Headers.UserAgent.ToString());
        return ValueTask.CompletedTask;
    }

    public ValueTask OnResponseAsync(HttpLoggingInterceptorContext logContext)
    {
        // Called as the headers go out: the length is known when the app declared it, as WSGI apps mostly do.
        logContext.AddParameter(ResponseLength, logContext.HttpContext.Response.ContentLength);
        return ValueTask.CompletedTask;
    }

    private static string Address(IPAddress? address) => address switch
    {
        null => "-",
        { IsIPv4MappedToIPv6: true } => address.MapToIPv4().ToString(),
        _ => address.ToString(),
    };
}

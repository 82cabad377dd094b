using Adapter.Cli;
using Microsoft.Extensions.Configuration;

namespace Adapter.Tests.Cli;

/// <summary>The <c>gateway</c> command's parsing of binds and APPs, its access log line and the flags' configuration keys, in-process.</summary>
public sealed class GatewayArgumentsTests
{
    [Theory]
    [InlineData("127.0.0.1:8000", "127.0.0.1", 8000)]
    [InlineData("0.0.0.0:80", "0.0.0.0", 80)]
    [InlineData(":9000", "0.0.0.0", 9000)]
    [InlineData("[::1]:8443", "::1", 8443)]
    [InlineData("10.1.2.3", "10.1.2.3", 8000)]
    [InlineData("localhost:5000", null, 5000)]
    public void A_bind_is_host_and_port_as_gunicorn_takes_it(string text, string? address, int port)
    {
        Assert.True(BindAddress.TryParse(text, out var bind, out var error), error);
        Assert.Equal(address, bind.Address?.ToString());
        Assert.Equal(port, bind.Port);
        Assert.False(bind.IsUnixSocket);
    }

    [Fact]
    public void A_unix_bind_is_a_socket_path()
    {
        Assert.True(BindAddress.TryParse("unix:/run/gateway.sock", out var bind, out _));
        Assert.True(bind.IsUnixSocket);
        Assert.Equal("/run/gateway.sock", bind.SocketPath);
    }

    [Theory]
    [InlineData("example.com:80")]
    [InlineData("127.0.0.1:http")]
    [InlineData("::1:80")]
    [InlineData("unix:")]
    public void A_malformed_bind_is_refused(string text) => Assert.False(BindAddress.TryParse(text, out _, out _));

    [Theory]
    [InlineData("hello:app", "/", "hello:app")]
    [InlineData("mysite.wsgi:application", "/", "mysite.wsgi:application")]
    [InlineData("mysite.wsgi", "/", "mysite.wsgi")]
    [InlineData("/admin=admin_site:app", "/admin", "admin_site:app")]
    [InlineData("/api/=api:create_app('prod')", "/api", "api:create_app('prod')")]
    [InlineData("/=hello:app", "/", "hello:app")]
    public void An_app_is_a_target_with_an_optional_prefix(string text, string prefix, string target)
    {
        Assert.True(AppMount.TryParse(text, out var mount, out var error), error);
        Assert.Equal(new AppMount(prefix, target), mount);
    }

    [Theory]
    [InlineData("hello:")]
    [InlineData(":app")]
    [InlineData("my-site:app")]
    [InlineData("/admin")]
    [InlineData("/a:b=hello:app")]
    [InlineData("--verbose")]
    public void A_malformed_app_is_refused(string text) => Assert.False(AppMount.TryParse(text, out _, out _));

    [Fact]
    public void The_access_log_line_is_gunicorns_shape_with_the_duration()
    {
        var line = AccessLogLine.Format(
        [
            new("Protocol", "HTTP/2"), new("Method", "POST"), new("PathBase", "/v"), new("Path", "/form"), new("QueryString", "?a=1"),
            new(AccessLogInterceptor.RemoteAddress, "192.0.2.7"), new(AccessLogInterceptor.Referer, ""), new(AccessLogInterceptor.UserAgent, "curl \"8\"\n"),
            new("StatusCode", 201), new(AccessLogInterceptor.ResponseLength, null), new("Duration", 1.23456),
        ], new DateTimeOffset(2026, 11, 27, 9, 40, 1, TimeSpan.FromHours(-5)));

        Assert.Equal("192.0.2.7 - - [27/Nov/2026:09:40:01 -0500] \"POST /v/form?a=1 HTTP/2\" 201 - \"-\" \"curl \\\"8\\\"\" 1.235ms", line);
    }

    [Fact]
    public void The_flags_become_configuration_keys_with_the_current_directory_first_on_the_path()
    {
        var configured = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["PythonGateway:Paths:0"] = "lib",
        }).Build();
        var keys = GatewayConfiguration.FromFlags(new GatewaySettings
        {
            Apps = [new AppMount("/", "hello:app"), new AppMount("/v", "v:app")],
            Workers = 0,
            Timeout = 0,
            Reload = true,
            LogLevel = "warning",
            PythonPath = ["/opt/a", "/opt/b"],
        }, "/srv/site", configured);

        Assert.Equal("0", keys["PythonGateway:Processes"]);
        Assert.Equal(Timeout.InfiniteTimeSpan, TimeSpan.Parse(keys["Gateway:RequestTimeout"]!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("true", keys["PythonGateway:ReloadOnChange"]);
        Assert.Equal("Warning", keys["Logging:LogLevel:Default"]);
        Assert.Equal(["/srv/site", "/opt/a", "/opt/b", "lib"], Enumerable.Range(0, 4).Select(i => keys[$"PythonGateway:Paths:{i}"]!).ToArray());
        Assert.Equal("hello:app", keys["PythonGateway:Apps:/"]);
        Assert.Equal("v:app", keys["PythonGateway:Apps:/v"]);
        Assert.False(keys.ContainsKey("PythonGateway:Threads"));
        Assert.False(keys.ContainsKey("Kestrel:Limits:MaxRequestBodySize"));
    }

    [Theory]
    [InlineData(0L, "")]
    [InlineData(1000L, "1000")]
    [InlineData(5_000_000_000L, "5000000000")]
    public void Limit_request_body_is_Kestrels_MaxRequestBodySize_with_0_for_none(long bytes, string value)
    {
        var keys = GatewayConfiguration.FromFlags(new GatewaySettings { LimitRequestBody = bytes }, "/srv/site", new ConfigurationBuilder().Build());

        Assert.Equal(value, keys["Kestrel:Limits:MaxRequestBodySize"]);
    }
}

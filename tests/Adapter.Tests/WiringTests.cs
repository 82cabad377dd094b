using System.Net;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Adapter.Tests;

public sealed class WiringTests
{
    private static readonly GatewayApp Paths = Apps.Probe(static (env, start) => $"{env["SCRIPT_NAME"]}|{env["PATH_INFO"]}");

    [Fact]
    public async Task UseGatewayApp_works_without_AddGateway()
    {
        await using var host = await TestHost.StartAsync(static web => web.UseGatewayApp(Apps.Text("no services needed")));
        Assert.Equal("no services needed", await host.Client.GetStringAsync("/"));
    }

    [Theory]
    [InlineData("/legacy", "/legacy|")]
    [InlineData("/legacy/", "/legacy|/")]
    [InlineData("/legacy/a/b", "/legacy|/a/b")]
    [InlineData("/LEGACY/x", "/LEGACY|/x")]
    [InlineData("/legacy/a%2Fb", "/legacy|/a/b")]
    [InlineData("/other", "fallthrough")]
    [InlineData("/legacyx", "fallthrough")]
    public async Task Mounted_UseGatewayApp_splits_script_name_and_path_info(string path, string expected)
    {
        await using var host = await TestHost.StartAsync(static web =>
        {
            web.UseGatewayApp("/legacy", Paths);
            web.UseGatewayApp(Apps.Text("fallthrough"));
        });

        Assert.Equal(expected, await host.Client.GetStringAsync(path));
    }

    [Theory]
    [InlineData("/legacy", "/legacy|")]
    [InlineData("/legacy/", "/legacy|/")]
    [InlineData("/legacy/a/b", "/legacy|/a/b")]
    [InlineData("/legacy/a%2Fb/c", "/legacy|/a/b/c")]
    [InlineData("/tenants/42/app/x", "/tenants/42/app|/x")]
    public async Task MapGatewayApp_splits_script_name_and_path_info(string path, string expected)
    {
        await using var host = await TestHost.StartAsync(static web =>
        {
            web.MapGatewayApp("/legacy", Paths);
            web.MapGatewayApp("/tenants/{id}/app", Paths);
        });

        Assert.Equal(expected, await host.Client.GetStringAsync(path));
    }

    [Fact]
    public async Task MapGatewayApp_returns_a_convention_builder_that_RequireAuthorization_applies_to()
    {
        await using var host = await TestHost.StartAsync(
            static web =>
            {
                web.UseAuthentication();
                web.UseAuthorization();
                web.MapGatewayApp("/secure", Paths).RequireAuthorization();
                web.MapGatewayApp("/open", Paths);
            },
            static services =>
            {
                services.AddAuthentication("test").AddScheme<AuthenticationSchemeOptions, HeaderAuthHandler>("test", null);
                services.AddAuthorization();
            });

        using var anonymous = await host.Client.GetAsync("/secure/page");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("/open|/page", await host.Client.GetStringAsync("/open/page"));

        using var request = new HttpRequestMessage(HttpMethod.Get, "/secure/page");
        request.Headers.Add("X-User", "bob");
        using var allowed = await host.Client.SendAsync(request);
        Assert.Equal("/secure|/page", await allowed.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Requests_keep_flowing_through_the_rest_of_the_pipeline_when_not_mounted()
    {
        await using var host = await TestHost.StartAsync(static web =>
        {
            web.UseGatewayApp("/gw", Apps.Text("gateway"));
            web.MapGet("/native", static () => "native");
        });

        Assert.Equal("gateway", await host.Client.GetStringAsync("/gw/x"));
        Assert.Equal("native", await host.Client.GetStringAsync("/native"));
    }

    private sealed class HeaderAuthHandler(
        Microsoft.Extensions.Options.IOptionsMonitor<AuthenticationSchemeOptions> options,
        Microsoft.Extensions.Logging.ILoggerFactory logger,
        System.Text.Encodings.Web.UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            if (!Request.Headers.TryGetValue("X-User", out var user))
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }

            var identity = new System.Security.Claims.ClaimsIdentity([new System.Security.Claims.Claim(System.Security.Claims.ClaimTypes.Name, user.ToString())], "test");
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new System.Security.Claims.ClaimsPrincipal(identity), "test")));
        }
    }
}

public sealed class EndpointPrecedenceTests
{
    [Fact]
    public async Task Matched_endpoints_win_over_the_gateway_app_so_routes_can_be_replaced_one_by_one()
    {
        await using var host = await TestHost.StartAsync(static web =>
        {
            web.MapGet("/orders/new", static () => "rewritten in C#");
            web.MapGet("/legacy/moved", static () => "moved out");
            web.UseGatewayApp("/legacy", Apps.Text("legacy mount"));
            web.UseGatewayApp(Apps.Text("legacy app"));
        });

        Assert.Equal("rewritten in C#", await host.Client.GetStringAsync("/orders/new"));
        Assert.Equal("legacy app", await host.Client.GetStringAsync("/orders/old"));
        Assert.Equal("moved out", await host.Client.GetStringAsync("/legacy/moved"));
        Assert.Equal("legacy mount", await host.Client.GetStringAsync("/legacy/other"));
    }
}

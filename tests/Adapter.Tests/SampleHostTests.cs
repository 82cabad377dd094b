using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Adapter.Tests;

public sealed class SampleHostTests(WebApplicationFactory<Program> factory) : IClassFixture<WebApplicationFactory<Program>>
{
    private readonly HttpClient _client = factory.CreateClient();

    [Fact]
    public async Task Root_says_hello_in_plain_text()
    {
        using var response = await _client.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType!.ToString());
        Assert.Equal("Hello, World!", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Environ_route_echoes_method_path_query_and_headers()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/environ/some/path?a=1&b=2");
        request.Headers.Add("X-Sample", "yes");
        using var response = await _client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("REQUEST_METHOD: GET\n", text, StringComparison.Ordinal);
        Assert.Contains("PATH_INFO: /some/path\n", text, StringComparison.Ordinal);
        Assert.Contains("QUERY_STRING: a=1&b=2\n", text, StringComparison.Ordinal);
        Assert.Contains("HTTP_X_SAMPLE: yes\n", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/mini/", HttpStatusCode.OK, "Mini framework: index\n")]
    [InlineData("/mini/about", HttpStatusCode.OK, "Mini framework: about\n")]
    [InlineData("/mini/missing", HttpStatusCode.NotFound, "Not Found: /missing\n")]
    public async Task Mini_framework_routes_and_404s(string path, HttpStatusCode status, string body)
    {
        using var response = await _client.GetAsync(path);
        Assert.Equal(status, response.StatusCode);
        Assert.Equal(body, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Upload_answers_length_and_sha256()
    {
        var data = new byte[300_000];
        new Random(7).NextBytes(data);
        using var response = await _client.PostAsync("/upload", new ByteArrayContent(data));
        Assert.Equal($"{data.Length} {Convert.ToHexStringLower(SHA256.HashData(data))}", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(65536)]
    [InlineData(200_001)]
    public async Task Stream_sends_exactly_the_bytes_asked_for(int bytes)
    {
        var gateway = await _client.GetByteArrayAsync($"/stream?bytes={bytes}");
        var native = await _client.GetByteArrayAsync($"/native/stream?bytes={bytes}");
        Assert.Equal(bytes, gateway.Length);
        Assert.Equal(native, gateway);
    }

    [Fact]
    public async Task Native_hello_matches_the_gateway_hello()
    {
        Assert.Equal(await _client.GetStringAsync("/"), await _client.GetStringAsync("/native/hello"));
    }

    [Python.PythonFact("flask")]
    public async Task Flask_app_is_mounted_beside_the_csharp_routes()
    {
        Assert.Equal("Hello, World!", await _client.GetStringAsync("/flask/"));
        Assert.Equal("Hello, Ada, from Flask behind Kestrel", await _client.GetStringAsync("/flask/greet/Ada"));
        Assert.Equal("Hello, World!", await _client.GetStringAsync("/native/hello"));
    }
}

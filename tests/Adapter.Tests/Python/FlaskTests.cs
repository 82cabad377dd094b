using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Adapter.Tests.Python;

/// <summary>An unmodified Flask app (pyapps/flask_app.py) behind Kestrel.</summary>
public sealed class FlaskTests
{
    private static Task<TestHost> StartAsync(int processes) =>
        PythonHost.StartAsync(static (app, python) => app.MapGatewayApp("/flask", python.Load("flask_app:app")), PythonHost.Mode(processes));

    [PythonTheory("flask")]
    [InlineData(0)]
    [InlineData(2)]
    public async Task Routes_and_query_strings(int processes)
    {
        await using var host = await StartAsync(processes);
        Assert.Equal("Hello from Flask", await host.Client.GetStringAsync("/flask/"));
        Assert.Equal("Hello, Ada!", await host.Client.GetStringAsync("/flask/greet?name=Ada"));
        Assert.Equal("Hello, Zoë!", await host.Client.GetStringAsync("/flask/greet?name=Zo%C3%AB"));
    }

    [PythonTheory("flask")]
    [InlineData(0)]
    [InlineData(2)]
    public async Task Form_data(int processes)
    {
        await using var host = await StartAsync(processes);
        using var response = await host.Client.PostAsync("/flask/form", new FormUrlEncodedContent([new("name", "Grace"), new("age", "85")]));
        Assert.Equal("Grace is 85", await response.Content.ReadAsStringAsync());
    }

    [PythonTheory("flask")]
    [InlineData(0)]
    [InlineData(2)]
    public async Task Json_in_and_out(int processes)
    {
        await using var host = await StartAsync(processes);
        using var response = await host.Client.PostAsync("/flask/json", new StringContent("""{"numbers":[1,2,3.5]}""", Encoding.UTF8, "application/json"));
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(6.5, json.RootElement.GetProperty("total").GetDouble());
        Assert.Equal(3, json.RootElement.GetProperty("received").GetProperty("numbers").GetArrayLength());
    }

    [PythonTheory("flask")]
    [InlineData(0)]
    [InlineData(2)]
    public async Task File_upload(int processes)
    {
        await using var host = await StartAsync(processes);
        var file = new byte[200_000];
        Random.Shared.NextBytes(file);
        using var form = new MultipartFormDataContent { { new ByteArrayContent(file), "file", "data.bin" } };
        using var response = await host.Client.PostAsync("/flask/upload", form);
        Assert.Equal($"data.bin {file.Length} {Convert.ToHexStringLower(SHA256.HashData(file))}", await response.Content.ReadAsStringAsync());
    }

    [PythonTheory("flask")]
    [InlineData(0)]
    [InlineData(2)]
    public async Task Streaming_generator_response_is_chunked(int processes)
    {
        await using var host = await StartAsync(processes);
        using var response = await host.Client.GetAsync("/flask/stream?count=200", HttpCompletionOption.ResponseHeadersRead);
        Assert.True(response.Headers.TransferEncodingChunked);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(string.Concat(Enumerable.Range(0, 200).Select(static i => $"line {i}\n")), body);
    }

    [PythonTheory("flask")]
    [InlineData(0)]
    [InlineData(2)]
    public async Task Error_handler_404_and_unhandled_error(int processes)
    {
        await using var host = await StartAsync(processes);
        using var teapot = await host.Client.GetAsync("/flask/teapot");
        Assert.Equal((HttpStatusCode)418, teapot.StatusCode);
        Assert.Equal("handled: short and stout", await teapot.Content.ReadAsStringAsync());

        using var missing = await host.Client.GetAsync("/flask/no/such/page");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);

        // Flask answers its own 500 and logs the traceback through its logger (stderr), not wsgi.errors.
        using var crash = await host.Client.GetAsync("/flask/crash");
        Assert.Equal(HttpStatusCode.InternalServerError, crash.StatusCode);
    }

    [PythonTheory("flask")]
    [InlineData(0)]
    [InlineData(2)]
    public async Task Many_concurrent_clients_each_get_their_own_answer(int processes)
    {
        await using var host = await StartAsync(processes);
        using var gate = new SemaphoreSlim(32);
        var requests = Enumerable.Range(0, 300).Select(async i =>
        {
            await gate.WaitAsync();
            try
            {
                if (i % 3 == 0)
                {
                    using var response = await host.Client.PostAsync("/flask/form", new FormUrlEncodedContent([new("name", $"n{i}"), new("age", $"{i}")]));
                    return (await response.Content.ReadAsStringAsync(), $"n{i} is {i}");
                }

                return (await host.Client.GetStringAsync($"/flask/greet?name=c{i}"), $"Hello, c{i}!");
            }
            finally
            {
                gate.Release();
            }
        });
        var answers = await Task.WhenAll(requests).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.All(answers, static a => Assert.Equal(a.Item2, a.Item1));
    }
}

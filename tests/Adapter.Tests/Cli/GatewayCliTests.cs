using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Adapter.Tests.Python;

namespace Adapter.Tests.Cli;

/// <summary>The <c>gateway</c> command end to end, as a process: serving, bad usage, a broken app, SIGTERM, the access log, HTTPS.</summary>
public sealed class GatewayCliTests
{
    [PythonFact("flask")]
    public async Task Serves_a_flask_app_at_the_root_and_a_second_app_at_a_mount()
    {
        var port = GatewayProcess.FreePort();
        await using var gateway = GatewayProcess.Start("flask_app:app", "/v=validated_app:app", "--workers", "1", "-b", $"127.0.0.1:{port}", "--chdir", PythonHost.AppsFolder);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TestHost.Wait };
        await gateway.WaitUntilAnsweringAsync(client, "/");

        Assert.Equal("Hello from Flask", await client.GetStringAsync("/"));
        Assert.Equal("Hello, cli!", await client.GetStringAsync("/greet?name=cli"));
        Assert.Equal("validated /x", await client.GetStringAsync("/v/x"));
        gateway.Signal(GatewayProcess.SigTerm);
        Assert.Equal(0, await gateway.WaitForExitAsync(TestHost.Wait));
        Assert.Contains(gateway.Error, l => l.Contains("Serving 2 Python app(s)", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("--workers abc hello:app", "--workers")]
    [InlineData("--no-such-flag hello:app", "--no-such-flag")]
    [InlineData("", "no app to serve")]
    [InlineData("hello:app -b 127.0.0.1:99999", "99999")]
    [InlineData("not-a-module hello:app", "not-a-module")]
    [InlineData("/admin hello:app", "/admin")]
    [InlineData("--log-level loud hello:app", "--log-level")]
    [InlineData("--certfile cert.pem hello:app", "--keyfile")]
    [InlineData("--limit-request-body -1 hello:app", "--limit-request-body")]
    public async Task Bad_usage_exits_2_with_one_line_on_stderr(string arguments, string named)
    {
        await using var gateway = GatewayProcess.Start(arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        var code = await gateway.WaitForExitAsync(TestHost.Wait);

        Assert.True(code == 2, $"Exit code {code}:\n{gateway.Transcript}");
        var line = Assert.Single(gateway.Error, l => l.Length > 0);
        Assert.StartsWith("gateway: ", line, StringComparison.Ordinal);
        Assert.Contains(named, line, StringComparison.Ordinal);
        Assert.DoesNotContain(gateway.Output, l => l.Length > 0);
    }

    [PythonFact]
    public async Task A_module_that_fails_to_import_exits_3_with_a_last_line_naming_it()
    {
        var port = GatewayProcess.FreePort();
        await using var gateway = GatewayProcess.Start("no_such_module:app", "--workers", "1", "-b", $"127.0.0.1:{port}");
        var code = await gateway.WaitForExitAsync(TestHost.Wait);

        Assert.True(code == 3, $"Exit code {code}:\n{gateway.Transcript}");
        var line = Assert.Single(gateway.Error, l => l.StartsWith("gateway: ", StringComparison.Ordinal));
        Assert.Equal(line, gateway.Error.Last(l => l.Length > 0));
        Assert.Contains("no_such_module", line, StringComparison.Ordinal);
    }

    [PythonFact]
    public async Task Check_config_loads_the_apps_and_exits_0()
    {
        await using var gateway = GatewayProcess.Start("--check-config", "--workers", "1", "cli_apps:hello_app", "/v=validated_app:app");
        var code = await gateway.WaitForExitAsync(TestHost.Wait);

        Assert.True(code == 0, $"Exit code {code}:\n{gateway.Transcript}");
        var line = Assert.Single(gateway.Output, l => l.StartsWith("gateway: ", StringComparison.Ordinal));
        Assert.Contains("/v=validated_app:app", line, StringComparison.Ordinal);
    }

    [PythonFact]
    public async Task Sigterm_lets_the_request_in_flight_finish_then_exits_0()
    {
        var port = GatewayProcess.FreePort();
        var mark = Path.Combine(Path.GetTempPath(), $"adapter-cli-mark-{Guid.NewGuid():N}");
        var release = mark + ".release";
        await using var gateway = GatewayProcess.Start("cli_apps:slow_app", "--workers", "1", "-b", $"127.0.0.1:{port}", "--graceful-timeout", "10");
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TestHost.Wait };
        await gateway.WaitUntilAnsweringAsync(client, "/");
        try
        {
            var request = client.GetAsync($"/?mark={Uri.EscapeDataString(mark)}&release={Uri.EscapeDataString(release)}");
            var deadline = DateTime.UtcNow + TestHost.Wait;
            while (!File.Exists(mark))
            {
                Assert.True(DateTime.UtcNow < deadline, $"The request did not reach the app:\n{gateway.Transcript}");
                await Task.Delay(20);
            }

            // Stopping: the request is still in the app, held there by the test, and the gateway waits for it.
            gateway.Signal(GatewayProcess.SigTerm);
            Assert.False(request.Wait(TimeSpan.FromSeconds(1)), $"The request ended before the app let it go:\n{gateway.Transcript}");
            Assert.True(gateway.IsRunning, $"The gateway exited with a request in flight:\n{gateway.Transcript}");

            await File.WriteAllTextAsync(release, "");
            using var response = await request.WaitAsync(TestHost.Wait);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("slept", await response.Content.ReadAsStringAsync());
            var code = await gateway.WaitForExitAsync(TestHost.Wait);
            Assert.True(code == 0, $"Exit code {code}:\n{gateway.Transcript}");
        }
        finally
        {
            File.Delete(mark);
            File.Delete(release);
        }
    }

    [PythonTheory]
    [InlineData(null, null, true)]
    [InlineData("0", "1000", true)]
    [InlineData("1000", null, false)]
    [InlineData(null, "1000", false)]
    public async Task Request_body_limit_is_none_by_default_and_set_by_the_flag_over_Kestrel_configuration(string? flag, string? configured, bool accepted)
    {
        // Issue 18, item 5: Kestrel's own default (30 MB) refused a 31 MB upload; gunicorn has no limit.
        const int size = 31 * 1024 * 1024;
        var port = GatewayProcess.FreePort();
        string[] arguments = ["cli_apps:length_app", "--workers", "1", "-b", $"127.0.0.1:{port}", .. flag is null ? [] : (string[])["--limit-request-body", flag]];
        var environment = configured is null ? new Dictionary<string, string>() : new Dictionary<string, string> { ["Kestrel__Limits__MaxRequestBodySize"] = configured };
        await using var gateway = GatewayProcess.Start(environment, arguments);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TestHost.Wait };
        await gateway.WaitUntilAnsweringAsync(client, "/");

        if (accepted)
        {
            using var response = await client.PostAsync("/", new ByteArrayContent(new byte[size]));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(size.ToString(System.Globalization.CultureInfo.InvariantCulture), await response.Content.ReadAsStringAsync());
        }
        else
        {
            // A declared length over the small limit (and well under Kestrel's 30 MB) is refused before any body
            // byte is sent, and before the app runs.
            using var raw = new RawConnection(port);
            await raw.SendAsync("POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n\r\n");
            var (head, _) = await raw.ReadResponseAsync();
            Assert.StartsWith("HTTP/1.1 413 ", head, StringComparison.Ordinal);

            using var small = await client.PostAsync("/", new ByteArrayContent(new byte[1000]));
            Assert.Equal("1000", await small.Content.ReadAsStringAsync());
        }
    }

    [PythonFact]
    public async Task Access_logfile_dash_prints_one_line_per_request_on_stdout()
    {
        var port = GatewayProcess.FreePort();
        await using var gateway = GatewayProcess.Start("validated_app:app", "--workers", "1", "-b", $"127.0.0.1:{port}", "--access-logfile", "-");
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TestHost.Wait };
        await gateway.WaitUntilAnsweringAsync(client, "/ready");

        Assert.Equal("validated /first", await client.GetStringAsync("/first"));
        Assert.Equal("validated /second", await client.GetStringAsync("/second?x=1"));
        gateway.Signal(GatewayProcess.SigTerm);
        Assert.Equal(0, await gateway.WaitForExitAsync(TestHost.Wait));

        // Only access log lines on stdout (the log goes to stderr), one per request, in gunicorn's shape.
        Assert.All(gateway.Output.Where(l => l.Length > 0), l => Assert.StartsWith("127.0.0.1 - - [", l, StringComparison.Ordinal));
        Assert.Contains("\"GET /first HTTP/1.1\" 200 16 ", Assert.Single(gateway.Output, l => l.Contains("/first", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Contains("\"GET /second?x=1 HTTP/1.1\" 200 17 ", Assert.Single(gateway.Output, l => l.Contains("/second", StringComparison.Ordinal)), StringComparison.Ordinal);
    }

    [PythonFact]
    public async Task Certfile_and_keyfile_serve_https_over_http2()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        var certFile = Path.GetTempFileName();
        var keyFile = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(certFile, certificate.ExportCertificatePem());
            await File.WriteAllTextAsync(keyFile, key.ExportPkcs8PrivateKeyPem());
            var port = GatewayProcess.FreePort();
            await using var gateway = GatewayProcess.Start("validated_app:app", "--workers", "1", "-b", $"127.0.0.1:{port}", "--certfile", certFile, "--keyfile", keyFile);
            var thumbprint = certificate.GetCertHashString();
            using var handler = new SocketsHttpHandler();
            handler.SslOptions.RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == thumbprint;
            using var client = new HttpClient(handler)
            {
                BaseAddress = new Uri($"https://127.0.0.1:{port}"),
                Timeout = TestHost.Wait,
                DefaultRequestVersion = HttpVersion.Version20,
                DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            };
            await gateway.WaitUntilAnsweringAsync(client, "/");

            using var response = await client.GetAsync("/x");
            Assert.Equal(HttpVersion.Version20, response.Version);
            Assert.Equal("validated /x", await response.Content.ReadAsStringAsync());
        }
        finally
        {
            File.Delete(certFile);
            File.Delete(keyFile);
        }
    }
}

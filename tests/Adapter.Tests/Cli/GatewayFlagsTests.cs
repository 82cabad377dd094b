using System.Globalization;
using Adapter.Cli;
using Adapter.Tests.Python;
using Microsoft.Extensions.Configuration;

namespace Adapter.Tests.Cli;

/// <summary>gunicorn's habits the command keeps: a repeated flag, GUNICORN_CMD_ARGS, WEB_CONCURRENCY, and the flags of issue 19.</summary>
public sealed class GatewayFlagsTests
{
    private static readonly Func<string, string?> NoEnvironment = static _ => null;

    [Fact]
    public void A_repeated_flag_takes_the_last_value_as_gunicorn_does()
    {
        var (settings, _) = GatewayCommand.Parse(["-w", "2", "-w", "1", "--timeout", "5", "-t", "9", "--log-level", "debug", "--log-level", "error", "--python", "a", "--python", "b", "--reload", "--reload", "hello:app"], NoEnvironment);

        Assert.Equal(1, settings.Workers);
        Assert.Equal(9, settings.Timeout);
        Assert.Equal("error", settings.LogLevel);
        Assert.Equal("b", settings.Python);
        Assert.True(settings.Reload);
        Assert.Equal("hello:app", Assert.Single(settings.Apps).Target);
    }

    [Fact]
    public void Gunicorn_cmd_args_apply_under_the_command_line()
    {
        var environment = new Dictionary<string, string?> { ["GUNICORN_CMD_ARGS"] = "--workers 3 --timeout 7 -b '127.0.0.1:9001' --env \"GREETING=hello there\"" };
        var (settings, _) = GatewayCommand.Parse(["-w", "1", "hello:app"], name => environment.GetValueOrDefault(name));

        Assert.Equal(1, settings.Workers);
        Assert.Equal(7, settings.Timeout);
        Assert.Equal(9001, Assert.Single(settings.Binds).Port);
        Assert.Equal("GREETING=hello there", Assert.Single(settings.Environment));
    }

    [Fact]
    public void Web_concurrency_is_the_worker_count_under_configuration_and_flags()
    {
        Func<string, string?> environment = name => name == "WEB_CONCURRENCY" ? "3" : null;
        var defaults = GatewayConfiguration.Defaults(environment);
        Assert.Equal("3", defaults["PythonGateway:Processes"]);

        var (settings, _) = GatewayCommand.Parse(["-w", "1", "hello:app"], environment);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(defaults).Build();
        var layered = new ConfigurationBuilder()
            .AddInMemoryCollection(defaults)
            .AddInMemoryCollection(GatewayConfiguration.FromFlags(settings, "/srv", configuration))
            .Build();
        Assert.Equal("1", layered["PythonGateway:Processes"]);
        Assert.Throws<UsageException>(() => GatewayConfiguration.Defaults(name => name == "WEB_CONCURRENCY" ? "many" : null));
    }

    [Fact]
    public void Kestrel_limits_come_from_keep_alive_and_the_request_line_and_fields_flags()
    {
        var (settings, _) = GatewayCommand.Parse(["--keep-alive", "5", "--limit-request-line", "0", "--limit-request-fields", "50", "hello:app"], NoEnvironment);
        var keys = GatewayConfiguration.FromFlags(settings, "/srv", new ConfigurationBuilder().Build());

        Assert.Equal(TimeSpan.FromSeconds(5), TimeSpan.Parse(keys["Kestrel:Limits:KeepAliveTimeout"]!, CultureInfo.InvariantCulture));
        Assert.Equal(int.MaxValue.ToString(CultureInfo.InvariantCulture), keys["Kestrel:Limits:MaxRequestLineSize"]);
        Assert.Equal("50", keys["Kestrel:Limits:MaxRequestHeaderCount"]);
    }

    [Theory]
    [InlineData("--name", "systemd")]
    [InlineData("--limit-request-field_size", "Kestrel:Limits:MaxRequestHeadersTotalSize")]
    public void A_gunicorn_flag_without_an_equivalent_is_refused_with_the_reason_and_the_aspnetcore_way(string flag, string way)
    {
        var refusal = Assert.Throws<UsageException>(() => GatewayCommand.Parse([flag, "100", "hello:app"], NoEnvironment));

        Assert.Contains($"{flag} is not supported", refusal.Message, StringComparison.Ordinal);
        Assert.Contains(way, refusal.Message, StringComparison.Ordinal);
    }

    [PythonFact]
    public async Task A_gunicorn_config_file_is_under_gunicorn_cmd_args_and_the_command_line()
    {
        var folder = Directory.CreateTempSubdirectory("adapter-gunicorn-layers-").FullName;
        var file = Path.Combine(folder, "gunicorn.conf.py");
        await File.WriteAllTextAsync(file, "bind = '127.0.0.1:9100'\nworkers = 1\nthreads = 3.0\ntimeout = 4\nwsgi_app = 'hello:app'\n");
        try
        {
            var environment = new Dictionary<string, string?> { ["PythonGateway__PythonExecutable"] = PythonHost.PythonExecutable, ["GUNICORN_CMD_ARGS"] = "--timeout 6" };
            var (settings, warning) = GatewayCommand.Parse(["-c", file, "-w", "2", "-b", "127.0.0.1:9200"], name => environment.GetValueOrDefault(name));

            Assert.Equal(2, settings.Workers);
            Assert.Equal(3, settings.Threads);
            Assert.Equal(6, settings.Timeout);
            Assert.Equal(9200, Assert.Single(settings.Binds).Port);
            Assert.Equal("hello:app", Assert.Single(settings.Apps).Target);
            Assert.Null(settings.ConfigFile);
            Assert.Null(warning);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task A_config_file_that_is_neither_format_names_both_accepted_formats()
    {
        var file = Path.Combine(Directory.CreateTempSubdirectory("adapter-bad-config-").FullName, "settings.json");
        await File.WriteAllTextAsync(file, "{ not json");
        try
        {
            await using var gateway = GatewayProcess.Start("-c", file, "hello:app");
            var code = await gateway.WaitForExitAsync(TestHost.Wait);

            Assert.True(code == 2, $"Exit code {code}:\n{gateway.Transcript}");
            var line = Assert.Single(gateway.Error, l => l.Length > 0);
            Assert.Contains("JSON", line, StringComparison.Ordinal);
            Assert.Contains("gunicorn Python config file", line, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
        }
    }

    [PythonFact]
    public async Task Env_pid_and_error_logfile_do_what_gunicorn_does()
    {
        var port = GatewayProcess.FreePort();
        var folder = Directory.CreateTempSubdirectory("adapter-gateway-flags-").FullName;
        var pidFile = Path.Combine(folder, "gateway.pid");
        var logFile = Path.Combine(folder, "error.log");
        try
        {
            await using var gateway = GatewayProcess.Start(
                "interp_apps:env_app", "-e", "GREETING=hello there", "-p", pidFile, "--error-logfile", logFile, "--capture-output", "--preload", "-w", "1", "-b", $"127.0.0.1:{port}");
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TestHost.Wait };
            await gateway.WaitUntilAnsweringAsync(client, "/");

            Assert.Equal("hello there", await client.GetStringAsync("/?name=GREETING"));
            Assert.Equal(gateway.Id.ToString(CultureInfo.InvariantCulture), (await File.ReadAllTextAsync(pidFile)).Trim());
            Assert.Contains("Serving 1 Python app(s)", await File.ReadAllTextAsync(logFile), StringComparison.Ordinal);
            Assert.DoesNotContain(gateway.Error, l => l.Contains("Serving", StringComparison.Ordinal));

            gateway.Signal(GatewayProcess.SigTerm);
            Assert.Equal(0, await gateway.WaitForExitAsync(TestHost.Wait));
            Assert.False(File.Exists(pidFile), "The pid file outlived the server.");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}

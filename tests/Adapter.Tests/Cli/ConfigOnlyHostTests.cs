using System.Globalization;
using System.Net;
using Adapter.Tests.Python;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;

namespace Adapter.Tests.Cli;

/// <summary>What the <c>gateway</c> command is built on, in a C# host: <c>MapPythonApps()</c> from configuration, and the health check.</summary>
public sealed class ConfigOnlyHostTests
{
    [PythonFact]
    public async Task MapPythonApps_mounts_the_apps_of_the_options()
    {
        await using var host = await PythonHost.StartAsync((app, _) => app.MapPythonApps(), o =>
        {
            o.Apps["/"] = "validated_app:app";
            o.Apps["/hello"] = "cli_apps:hello_app";
        });

        Assert.Equal("validated /x", await host.Client.GetStringAsync("/x"));
        Assert.Equal("hello from cli_apps", await host.Client.GetStringAsync("/hello/"));
        Assert.Equal("hello from cli_apps", await host.Client.GetStringAsync("/hello"));
    }

    [PythonFact]
    public async Task MapPythonApps_mounts_the_apps_of_the_PythonGateway_Apps_section()
    {
        await using var host = await PythonHost.StartAsync((app, _) => app.MapPythonApps(), builder: web => web.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["PythonGateway:Apps:/"] = "validated_app:app",
            ["PythonGateway:Apps:/admin"] = "cli_apps:hello_app",
        }));

        Assert.Equal("validated /x", await host.Client.GetStringAsync("/x"));
        Assert.Equal("hello from cli_apps", await host.Client.GetStringAsync("/admin/page"));
    }

    [PythonFact]
    public async Task Health_check_is_unhealthy_while_the_only_worker_is_replaced_then_healthy_again()
    {
        // The replacement worker imports cli_apps slowly (the module waits when this file names its parent): a window to see.
        var slowImport = Path.Combine(Path.GetTempPath(), $"adapter-cli-apps-slow-import-{Environment.ProcessId}");
        File.Delete(slowImport);
        await using var host = await PythonHost.StartAsync((app, _) =>
        {
            app.MapHealthChecks("/healthz");
            app.MapPythonApps();
        }, o =>
        {
            o.Processes = 1;
            o.Apps["/"] = "cli_apps:pid_app";
        });
        try
        {
            Assert.Equal("Healthy", await host.Client.GetStringAsync("/healthz"));
            var worker = int.Parse(await host.Client.GetStringAsync("/"), CultureInfo.InvariantCulture);
            await File.WriteAllTextAsync(slowImport, "2");
            Assert.Equal(0, Kill(worker, GatewayProcess.SigKill));

            await Python.HealthProbe.WaitForAsync(host, HttpStatusCode.ServiceUnavailable, "Unhealthy");
            File.Delete(slowImport);
            await Python.HealthProbe.WaitForAsync(host, HttpStatusCode.OK, "Healthy");
            Assert.NotEqual(worker, int.Parse(await host.Client.GetStringAsync("/"), CultureInfo.InvariantCulture));
        }
        finally
        {
            File.Delete(slowImport);
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}

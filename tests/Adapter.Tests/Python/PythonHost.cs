using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Adapter.Tests.Python;

/// <summary>A real Kestrel host with the Python bridge, its <c>sys.path</c> holding the tests' <c>pyapps</c> folder.</summary>
internal static class PythonHost
{
    public static string AppsFolder => Path.Combine(AppContext.BaseDirectory, "pyapps");

    public static Task<TestHost> StartAsync(
        Action<WebApplication, PythonGateway> map,
        Action<PythonGatewayOptions>? options = null,
        Action<GatewayOptions>? gateway = null,
        Action<WebApplicationBuilder>? builder = null) =>
        TestHost.StartAsync(
            app => map(app, app.Services.GetRequiredService<PythonGateway>()),
            services =>
            {
                services.AddPythonGateway(o =>
                {
                    o.Paths.Add(AppsFolder);

                    // In-process unless a test asks for worker processes; those run Debian's Python, whose packages the tests probe.
                    o.Processes = 0;
                    o.PythonExecutable = PythonExecutable;
                    options?.Invoke(o);
                });
                if (gateway is not null)
                {
                    services.Configure(gateway);
                }
            },
            builder);

    /// <summary>The interpreter the worker-process tests run, the one <c>PythonFact</c> probes for packages.</summary>
    public const string PythonExecutable = "/usr/bin/python3";

    /// <summary>Sets the mode: 0 for in-process, N for N worker processes.</summary>
    public static Action<PythonGatewayOptions> Mode(int processes) => o => o.Processes = processes;

    /// <summary>
    /// One worker process serving <c>/blocked</c> (<c>bridge_apps:blocked_app</c>, held until the test's listener
    /// hangs up on it) and <c>/pid</c> (<c>worker_apps:pid_app</c>).
    /// </summary>
    public static Task<TestHost> StartOneBlockableWorkerAsync(Action<GatewayOptions> gateway) =>
        StartAsync(
            static (app, python) =>
            {
                app.MapGatewayApp("/blocked", python.Load("bridge_apps:blocked_app"));
                app.MapGatewayApp("/pid", python.Load("worker_apps:pid_app"));
            },
            Mode(1),
            gateway);

    /// <summary>A host serving one app at the root.</summary>
    public static Task<TestHost> StartAsync(string target, Action<PythonGatewayOptions>? options = null) =>
        StartAsync((app, python) => app.UseGatewayApp(python.Load(target)), options);

    /// <summary>Serves one app at the root for one GET, and answers its body.</summary>
    public static async Task<string> GetStringAsync(string target, string path = "/")
    {
        await using var host = await StartAsync(target);
        return await host.Client.GetStringAsync(path);
    }
}

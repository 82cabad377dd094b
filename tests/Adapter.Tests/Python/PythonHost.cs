using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Adapter.Tests.Python;

/// <summary>A real Kestrel host with the Python bridge, its <c>sys.path</c> holding the tests' <c>pyapps</c> folder.</summary>
internal static class PythonHost
{
    public static string AppsFolder => Path.Combine(AppContext.BaseDirectory, "pyapps");

    public static Task<TestHost> StartAsync(Action<WebApplication, PythonGateway> map, Action<PythonGatewayOptions>? options = null) =>
        TestHost.StartAsync(
            app => map(app, app.Services.GetRequiredService<PythonGateway>()),
            services => services.AddPythonGateway(o =>
            {
                o.Paths.Add(AppsFolder);
                options?.Invoke(o);
            }));

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

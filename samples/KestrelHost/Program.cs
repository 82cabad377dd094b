using Adapter;
using KestrelHost;

var builder = WebApplication.CreateBuilder(args);
builder.Services.AddGateway(); // binds the "Gateway" configuration section (worker count, timeouts, buffers)
builder.Services.AddPythonGateway(static o => o.Paths.Add(Path.Combine(AppContext.BaseDirectory, "pyapps")));

var app = builder.Build();

// The C# gateway apps of the seed document, next to plain ASP.NET Core endpoints for comparison.
app.MapGet("/native/hello", () => Results.Text("Hello, World!", "text/plain"));
app.MapGet("/native/stream", NativeStream.WriteAsync);
if (app.Configuration.GetValue<bool>("Bench:AllocationRoute"))
{
    // bench/run.sh reads the process's own allocation counter here, before and after a fixed number of requests.
    app.MapGet("/native/allocated", () => GC.GetTotalAllocatedBytes(precise: true).ToString(System.Globalization.CultureInfo.InvariantCulture));
}

// A Flask app beside the C# routes, when CPython and Flask are installed; without them the host still runs.
try
{
    app.MapGatewayApp("/flask", app.Services.GetRequiredService<PythonGateway>().Load("hello_flask:app"));
}
catch (InvalidOperationException ex)
{
    SampleLog.FlaskUnavailable(app.Logger, ex.Message);
}

// More Python apps from configuration, e.g. --PythonApps:/legacy=mysite.wsgi:application (module on the pyapps path).
foreach (var mount in app.Configuration.GetSection("PythonApps").GetChildren())
{
    app.MapGatewayApp(mount.Key, app.Services.GetRequiredService<PythonGateway>().Load(mount.Value!));
}

var mini = new MiniFramework();
mini.Route("/", MiniPages.Index);
mini.Route("/about", MiniPages.About);
app.UseGatewayApp("/mini", new LoggingMiddleware(mini.Invoke, app.Logger).Invoke);
app.UseGatewayApp("/environ", SampleApps.Environ);
app.UseGatewayApp("/upload", SampleApps.Upload);
app.UseGatewayApp("/stream", SampleApps.Stream);
app.UseGatewayApp(SampleApps.Hello);

app.Run();

/// <summary>The sample host's entry point; public so tests can use <c>WebApplicationFactory&lt;Program&gt;</c>.</summary>
public partial class Program;

namespace Adapter.Tests.Python;

/// <summary>A Pyramid app with one route and one view (pyapps/pyramid_app.py).</summary>
public sealed class PyramidTests
{
    [PythonFact("pyramid")]
    public async Task Pyramid_route_and_view()
    {
        await using var host = await PythonHost.StartAsync("pyramid_app:app");
        Assert.Equal("Hello world from Pyramid", await host.Client.GetStringAsync("/hello/world"));
    }
}

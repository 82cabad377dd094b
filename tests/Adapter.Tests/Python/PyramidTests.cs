namespace Adapter.Tests.Python;

/// <summary>A Pyramid app with one route and one view (pyapps/pyramid_app.py).</summary>
public sealed class PyramidTests
{
    [PythonTheory("pyramid")]
    [InlineData(0)]
    [InlineData(2)]
    public async Task Pyramid_route_and_view(int processes)
    {
        await using var host = await PythonHost.StartAsync("pyramid_app:app", PythonHost.Mode(processes));
        Assert.Equal("Hello world from Pyramid", await host.Client.GetStringAsync("/hello/world"));
    }
}

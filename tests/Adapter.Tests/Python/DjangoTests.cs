using System.Net;

namespace Adapter.Tests.Python;

/// <summary>A minimal Django project (pyapps/djproject) through <c>django.core.wsgi.get_wsgi_application()</c>.</summary>
public sealed class DjangoTests
{
    [PythonTheory("django")]
    [InlineData(0)]
    [InlineData(2)]
    public async Task Django_view_sees_its_path_and_post_data(int processes)
    {
        await using var host = await PythonHost.StartAsync(static (app, python) => app.MapGatewayApp("/dj", python.Load("djproject.wsgi:application")), PythonHost.Mode(processes));
        Assert.Equal("Hello from Django at /dj/hello/", await host.Client.GetStringAsync("/dj/hello/"));

        using var posted = await host.Client.PostAsync("/dj/submit/", new FormUrlEncodedContent([new("name", "Linus"), new("item", "tea"), new("item", "cake")]));
        Assert.Equal(HttpStatusCode.OK, posted.StatusCode);
        Assert.Equal("Linus ordered tea, cake", await posted.Content.ReadAsStringAsync());

        using var missing = await host.Client.GetAsync("/dj/nowhere/");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }
}

using System.Net;

namespace Adapter.Tests.Python;

/// <summary>Polls a host's <c>/healthz</c> (<c>MapHealthChecks</c>) until it answers as expected.</summary>
internal static class HealthProbe
{
    public static async Task WaitForAsync(TestHost host, HttpStatusCode status, string body)
    {
        var deadline = DateTime.UtcNow + TestHost.Wait;
        var seen = new List<string>();
        while (true)
        {
            using var response = await host.Client.GetAsync("/healthz");
            var text = await response.Content.ReadAsStringAsync();
            if (response.StatusCode == status && text == body)
            {
                return;
            }

            seen.Add($"{(int)response.StatusCode} {text}");
            Assert.True(DateTime.UtcNow < deadline, $"/healthz never answered {(int)status} {body}; it said: {string.Join(", ", seen.Distinct())}");
            await Task.Delay(25);
        }
    }
}

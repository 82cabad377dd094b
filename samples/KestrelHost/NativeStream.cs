using System.Globalization;

namespace KestrelHost;

/// <summary>The plain ASP.NET Core twin of the <c>/stream</c> gateway app, for side-by-side comparison.</summary>
internal static class NativeStream
{
    public static async Task WriteAsync(HttpContext context)
    {
        if (!long.TryParse(context.Request.Query["bytes"], NumberStyles.None, CultureInfo.InvariantCulture, out var total))
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("?bytes=N is required\n", context.RequestAborted);
            return;
        }

        context.Response.ContentType = "application/octet-stream";
        var buffer = new byte[SampleApps.StreamChunkSize];
        buffer.AsSpan().Fill((byte)'x');
        for (var left = total; left > 0; left -= buffer.Length)
        {
            await context.Response.Body.WriteAsync(buffer.AsMemory(0, (int)Math.Min(left, buffer.Length)), context.RequestAborted);
        }
    }
}

using Microsoft.Extensions.Logging;

namespace Adapter;

/// <summary>
/// Gives the thread pool back .NET's default spin when the host runs Python in-process, where it pays; worker-process
/// hosts keep the spin off, as the package's runtimeconfig sets it (<c>buildTransitive/Adapter.Python.targets</c>).
/// </summary>
/// <remarks>
/// The runtime reads <c>System.Threading.ThreadPool.UnfairSemaphoreSpinLimit</c> once, when the pool starts its first
/// worker thread, and a host learns its mode only from its configuration, after the runtimeconfig has been applied.
/// The in-process gateway is built before the server starts (when its apps are mapped), and by then a host has
/// usually queued nothing to the pool yet: the setting is changed back to the runtime's default then. A pool already
/// running keeps what it read, which is logged. The package marks its own default with
/// <see cref="ByModeSwitch"/>, so an explicit choice (<c>AdapterPythonThreadPoolSpin</c> = <c>false</c> or
/// <c>true</c>, or the <c>DOTNET_ThreadPool_UnfairSemaphoreSpinLimit</c> variable) is never overridden.
/// </remarks>
internal static class PythonThreadPoolSpin
{
    /// <summary>Set by the package's targets when <c>AdapterPythonThreadPoolSpin</c> is not set: choose by mode.</summary>
    public const string ByModeSwitch = "Adapter.Python.ThreadPoolSpinByMode";

    /// <summary>The runtime's setting, as named in runtimeconfig.json.</summary>
    public const string SpinLimitSetting = "System.Threading.ThreadPool.UnfairSemaphoreSpinLimit";

    private static readonly string[] EnvironmentNames = ["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit", "COMPlus_ThreadPool_UnfairSemaphoreSpinLimit"];

    /// <summary>Called as the in-process gateway is built: restores the runtime's default spin when that is still possible.</summary>
    public static void UseDefaultForInProcess(ILogger logger)
    {
        if (!AppContext.TryGetSwitch(ByModeSwitch, out var byMode) || !byMode
            || Array.Exists(EnvironmentNames, static name => Environment.GetEnvironmentVariable(name) is not null)
            || AppContext.GetData(SpinLimitSetting) is null)
        {
            return;
        }

        var started = ThreadPool.ThreadCount;
        if (started > 0)
        {
            PythonGatewayLog.ThreadPoolSpinKept(logger, started);
            return;
        }

        AppContext.SetData(SpinLimitSetting, null);
        PythonGatewayLog.ThreadPoolSpinRestored(logger, AppContext.GetData(SpinLimitSetting)?.ToString() ?? "unset, the runtime's default");
    }
}

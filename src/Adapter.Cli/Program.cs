namespace Adapter.Cli;

/// <summary>The <c>gateway</c> command's entry point.</summary>
internal static class Program
{
    public static Task<int> Main(string[] args) => GatewayCommand.RunAsync(args, Console.Out, Console.Error);
}

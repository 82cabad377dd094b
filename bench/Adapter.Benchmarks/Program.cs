using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/Adapter.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

using System.Diagnostics;

namespace Adapter.Tests.Python;

/// <summary>A host killed with SIGKILL never deletes its worker-script folder; the next host to start does.</summary>
public sealed class WorkerScriptFolderTests
{
    [PythonFact]
    public async Task A_starting_host_removes_the_folders_of_dead_hosts_and_keeps_those_of_live_ones()
    {
        // The owner of one folder is a process that has ended; the other's is this one, alive.
        using var ended = Process.Start(new ProcessStartInfo("sleep", ["60"]) { UseShellExecute = false })!;
        var endedOwner = $"{ended.Id} {StartTime(ended.Id)}";
        ended.Kill();
        await ended.WaitForExitAsync().WaitAsync(TestHost.Wait);
        var dead = Directory.CreateTempSubdirectory(WorkerScriptFolder.Prefix);
        var live = Directory.CreateTempSubdirectory(WorkerScriptFolder.Prefix);
        try
        {
            File.WriteAllText(Path.Combine(dead.FullName, "owner"), endedOwner);
            File.WriteAllText(Path.Combine(live.FullName, "owner"), $"{Environment.ProcessId} {StartTime(Environment.ProcessId)}");

            await using (var host = await PythonHost.StartAsync("validated_app:app", PythonHost.Mode(1)))
            {
                Assert.False(Directory.Exists(dead.FullName), "The folder of a host that has ended is still there.");
                Assert.True(Directory.Exists(live.FullName), "The folder of a live host was removed.");
            }
        }
        finally
        {
            foreach (var folder in new[] { dead, live })
            {
                if (Directory.Exists(folder.FullName))
                {
                    folder.Delete(recursive: true);
                }
            }
        }
    }

    private static string StartTime(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19];
    }
}

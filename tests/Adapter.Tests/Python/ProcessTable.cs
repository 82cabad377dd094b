using System.Globalization;

namespace Adapter.Tests.Python;

/// <summary>What <c>/proc</c> says about processes: which are alive, which are whose children.</summary>
internal static class ProcessTable
{
    /// <summary>True while the process exists and has not ended (a zombie waiting to be reaped has ended).</summary>
    public static bool IsAlive(int pid) => Stat(pid) is { } stat && stat.State != 'Z';

    /// <summary>The live processes whose parent is <paramref name="parent"/>.</summary>
    public static IEnumerable<int> ChildrenOf(int parent)
    {
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && Stat(pid) is { State: not 'Z' } stat && stat.Parent == parent)
            {
                yield return pid;
            }
        }
    }

    /// <summary>A field of <c>/proc/PID/status</c> in KiB (<c>VmRSS</c>, <c>VmHWM</c>).</summary>
    public static long StatusKiB(int pid, string field)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
    }

    /// <summary>Polls until none of <paramref name="pids"/> is alive; the ones still alive at the deadline.</summary>
    public static async Task<int[]> WaitUntilGoneAsync(IEnumerable<int> pids, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var alive = pids.Where(IsAlive).ToArray();
            if (alive.Length == 0 || DateTime.UtcNow > deadline)
            {
                return alive;
            }

            await Task.Delay(50);
        }
    }

    private static (char State, int Parent)? Stat(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }

        // "pid (comm) state ppid ...": the command may hold spaces and parentheses, so fields count from the last ')'.
        var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        return (fields[0][0], int.Parse(fields[1], CultureInfo.InvariantCulture));
    }
}

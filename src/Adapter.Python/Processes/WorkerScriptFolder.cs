using System.Globalization;

namespace Adapter;

/// <summary>
/// The temporary folder that holds the worker scripts of one supervisor, marked with its owner (process id and
/// start time). A host that was killed never deletes its folder; the next one to start removes every folder whose
/// owner is gone, so SIGKILLs do not pile folders up in the temporary directory.
/// </summary>
internal static class WorkerScriptFolder
{
    public const string Prefix = "adapter-python-";
    private const string OwnerFile = "owner";

    /// <summary>Removes the folders of dead owners, then makes this process's folder.</summary>
    public static DirectoryInfo Create()
    {
        RemoveOrphans(Path.GetTempPath());
        var folder = Directory.CreateTempSubdirectory(Prefix);
        File.WriteAllText(Path.Combine(folder.FullName, OwnerFile), Owner(Environment.ProcessId) ?? "");
        return folder;
    }

    /// <summary>Deletes each <c>adapter-python-*</c> folder under <paramref name="temp"/> whose owner process has ended.</summary>
    public static void RemoveOrphans(string temp)
    {
        string[] folders;
        try
        {
            folders = Directory.GetDirectories(temp, Prefix + "*");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return;
        }

        foreach (var folder in folders)
        {
            try
            {
                var owner = File.ReadAllText(Path.Combine(folder, OwnerFile));
                var pid = int.Parse(owner.AsSpan(0, owner.IndexOf(' ')), CultureInfo.InvariantCulture);

                // The same id with another start time is a new process that took a dead owner's id.
                if (Owner(pid) != owner)
                {
                    Directory.Delete(folder, recursive: true);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or ArgumentOutOfRangeException)
            {
                // Not ours to judge (no owner file yet, another user's folder, a folder being deleted): left alone.
            }
        }
    }

    /// <summary>"PID STARTTIME" from /proc, or null when the process does not exist.</summary>
    private static string? Owner(int pid)
    {
        try
        {
            // Field 22 of /proc/PID/stat, counted after the command name's closing parenthesis (it may hold spaces).
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return $"{pid} {fields[19]}";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}

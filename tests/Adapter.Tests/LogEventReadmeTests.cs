using System.Text.RegularExpressions;
using Adapter.Tests.Python;

namespace Adapter.Tests;

/// <summary>Issue 19, item 9: the README's tables list every log event id the code emits, in every project.</summary>
public sealed partial class LogEventReadmeTests
{
    [Fact]
    public void Readme_lists_every_log_event_id_the_code_emits()
    {
        var root = FidelityTests.RepositoryRoot;
        var emitted = Directory.GetFiles(Path.Combine(root, "src"), "*.cs", SearchOption.AllDirectories)
            .SelectMany(file => LoggerMessageId().Matches(File.ReadAllText(file)).Select(match => int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)))
            .ToHashSet();
        var listed = TableRowId().Matches(File.ReadAllText(Path.Combine(root, "README.md")))
            .Select(match => int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))
            .ToHashSet();

        Assert.NotEmpty(emitted);
        Assert.Empty(emitted.Except(listed).Order());
    }

    [GeneratedRegex(@"\[LoggerMessage\(\s*(?:EventId\s*=\s*)?(\d+)")]
    private static partial Regex LoggerMessageId();

    [GeneratedRegex(@"^\| (\d+) \|", RegexOptions.Multiline)]
    private static partial Regex TableRowId();
}

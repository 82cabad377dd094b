"""Lists the skipped tests of a .trx file (VSTest's results), one per line: full name, a tab, the reason."""
import sys
import xml.etree.ElementTree as tree

NAMESPACE = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}


def skipped(path):
    root = tree.parse(path).getroot()
    names = {}
    for test in root.iterfind(".//t:UnitTest", NAMESPACE):
        method = test.find("t:TestMethod", NAMESPACE)
        name = test.get("name") or ""
        if method is not None and "." not in name.split("(")[0]:
            name = "%s.%s" % (method.get("className"), name)
        names[test.get("id")] = name
    for result in root.iterfind(".//t:UnitTestResult", NAMESPACE):
        if result.get("outcome") == "NotExecuted":
            message = result.find(".//t:Message", NAMESPACE)
            reason = " ".join((message.text or "").split()) if message is not None else ""
            yield names.get(result.get("testId"), result.get("testName")), reason


if __name__ == "__main__":
    for name, reason in skipped(sys.argv[1]):
        print("%s\t%s" % (name, reason))

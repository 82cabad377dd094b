namespace Adapter;

/// <summary>What takes the environ's entries from <see cref="PythonEnviron.Walk"/>: the worker frame's lists, or the in-process dict.</summary>
internal interface IPythonEnvironSink
{
    /// <summary>A text entry; <paramref name="native"/> when <paramref name="value"/> is already PEP 3333's native string (code points below 256).</summary>
    void Text(string key, string value, bool native);

    /// <summary>A boolean entry (wsgi.multithread and the like).</summary>
    void Flag(string key, bool value);

    /// <summary>wsgi.version, (1, 0).</summary>
    void WsgiVersion(string key);
}

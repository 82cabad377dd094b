namespace Adapter;

/// <summary>
/// The GIL for a thread that calls into Python now and then (loading an app, the interrupter, start-up): taken with
/// <c>PyGILState_Ensure</c> and given back on dispose, its thread state made and dropped with it. The adapter's worker
/// threads keep a state of their own instead (<see cref="PythonThread"/>).
/// </summary>
internal readonly ref struct PythonGil
{
    private readonly int _state;

    private PythonGil(int state) => _state = state;

    /// <summary>Waits for the GIL.</summary>
    public static PythonGil Take() => new(CPython.GilStateEnsure());

    public void Dispose() => CPython.GilStateRelease(_state);
}

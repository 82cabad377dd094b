using System.Buffers.Binary;
using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Adapter;

/// <summary>
/// Runs the Python worker processes, gunicorn's arbiter in the host: one loop owns every worker's state.
/// Loads, reloads, a change of the worker count (SIGTTIN, SIGTTOU), exits, releases and a timer tick only post events
/// to it; each pass handles the event, kills workers silent past the request timeout, reaps the dead, and brings the
/// workers to the target count (starting some, or stopping idle ones).
/// </summary>
/// <remarks>
/// Request threads take ready workers from the idle channel and put them back themselves when nothing is to
/// change (the hot path never wakes the loop); a worker of an old generation, past its request limit, or broken
/// goes to the loop instead. A generation is the set of workers started with one list of apps: a reload starts
/// a new one, switches requests to it once every new worker has imported the apps, and stops the old workers as
/// their requests end.
/// </remarks>
internal sealed class PythonWorkerSupervisor : IDisposable
{
    private static readonly TimeSpan TickInterval = TimeSpan.FromMilliseconds(250);

    // While every worker is idle and none is to start: an idle host wakes up four times less often for the tick.
    private static readonly TimeSpan QuietTickInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan KillGrace = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(10);

    /// <summary>The <see cref="PythonWorkerProcess.StopReason"/> of a worker killed for the request timeout.</summary>
    public const string TimeoutReason = "timeout";

    /// <summary>The <see cref="PythonWorkerProcess.StopReason"/> of a worker killed in a request at the host's shutdown timeout.</summary>
    public const string ShutdownReason = "shutdown";

    private readonly PythonGatewayOptions _options;
    private readonly Action<int>? _countChanged;
    private readonly TimeSpan _requestTimeout;
    private readonly TimeSpan _acquireTimeout;
    private readonly ILogger _logger;
    private readonly ILoggerFactory _loggers;
    private readonly PythonWorkerMetrics _metrics;
    private readonly DirectoryInfo _scripts;
    private readonly string[] _paths;
    private readonly Channel<object> _events = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    // Idle channels of ready workers: a worker with N threads has N entries, one per channel. A channel given back
    // to a request waiting for one goes on inline, on the thread that gave it back (usually the channel's reader,
    // done with the last response): it only sends its request frame before it waits again, and no thread wakes for it.
    private readonly Channel<PythonWorkerChannel> _idle = Channel.CreateUnbounded<PythonWorkerChannel>(
        new UnboundedChannelOptions { AllowSynchronousContinuations = true });
    private readonly Timer _timer;
    private readonly Task _loop;

    // Owned by the loop.
    private readonly List<string?> _targets = [];
    private readonly List<PythonWorkerProcess> _workers = [];
    private int _processes;
    private Generation? _pending;
    private int _lastGeneration;
    private long _spawnAfter;
    private TimeSpan _backoff;
    private long _lastCrash;
    private TaskCompletionSource? _stopped;
    private bool _ending;

    private int _generation;
    private int _waiting;
    private int _quiet;
    private int _disposed;
    private volatile bool _stopping;
    private volatile PythonWorkerProcess[] _snapshot = [];

    /// <param name="options">The interpreter, the apps' paths, the worker count and the request limits.</param>
    /// <param name="requestTimeout">A worker silent this long in a request is killed.</param>
    /// <param name="loggerFactory">For the supervisor's lines and the workers' output.</param>
    /// <param name="metrics">The worker-process instruments.</param>
    /// <param name="countChanged">Called on the loop with the new target count when SIGTTIN or SIGTTOU changed it.</param>
    public PythonWorkerSupervisor(PythonGatewayOptions options, TimeSpan requestTimeout, ILoggerFactory loggerFactory, PythonWorkerMetrics metrics, Action<int>? countChanged = null)
    {
        _options = options;
        _countChanged = countChanged;
        _processes = options.Processes;
        _requestTimeout = requestTimeout;
        _acquireTimeout = requestTimeout == Timeout.InfiniteTimeSpan ? options.StartTimeout : requestTimeout;
        _logger = loggerFactory.CreateLogger(PythonGatewayLog.CategoryName);
        _loggers = loggerFactory;
        _metrics = metrics;
        _paths = [.. options.Paths.Select(static p => Path.GetFullPath(p))];
        _scripts = WorkerScriptFolder.Create();
        WriteScripts();

        metrics.ObserveWorkers(() => _snapshot);
        _loop = Task.Run(RunAsync);
        _timer = new Timer(static state => ((PythonWorkerSupervisor)state!).Post(Tick.Instance), this, TickInterval, TickInterval);
    }

    /// <summary>Imports <paramref name="target"/> in a new generation of workers; returns the app's index for requests.</summary>
    /// <exception cref="InvalidOperationException">A worker failed to import it (the message holds Python's traceback).</exception>
    public int Load(string target)
    {
        var done = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(new LoadRequested(target, done));
        return done.Task.GetAwaiter().GetResult();
    }

    /// <summary>Starts fresh workers that import every app anew; completes once requests go to them.</summary>
    public Task ReloadAsync()
    {
        var done = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(new ReloadRequested(done));
        return done.Task;
    }

    /// <summary>
    /// gunicorn's SIGTTIN (+1) and SIGTTOU (-1): changes the target count of worker processes, never below one; the
    /// loop starts the new ones, or stops idle ones (a busy one once its request ends). Completes with the new target.
    /// </summary>
    public Task<int> ScaleAsync(int delta)
    {
        var done = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(new ScaleRequested(delta, done));
        return done.Task;
    }

    /// <summary>
    /// For the health check: workers of the current generation that can take a request (idle, or serving one within the
    /// request timeout), those stuck in an app past it (until they are gone), the target count, and whether any app is loaded.
    /// </summary>
    public (int Ready, int Stuck, int Target, bool Loaded) Readiness()
    {
        var generation = Volatile.Read(ref _generation);
        var ready = 0;
        var stuck = 0;
        foreach (var worker in _snapshot)
        {
            if (worker.Generation != generation || worker.HasExited)
            {
                continue;
            }

            if (IsStuck(worker))
            {
                stuck++;
            }
            else if (worker.State is PythonWorkerState.Idle or PythonWorkerState.Busy)
            {
                ready++;
            }
        }

        return (ready, stuck, Volatile.Read(ref _processes), generation != 0);
    }

    /// <summary>Busy past the request timeout (the next tick stops it), or being stopped for that.</summary>
    private bool IsStuck(PythonWorkerProcess worker)
    {
        if (_requestTimeout == Timeout.InfiniteTimeSpan)
        {
            return false;
        }

        var waiting = worker.WaitingSince;
        return worker.State switch
        {
            PythonWorkerState.Busy => waiting != 0 && Stopwatch.GetElapsedTime(waiting) > _requestTimeout,
            PythonWorkerState.Stopping => worker.StopReason == TimeoutReason,
            _ => false,
        };
    }

    /// <summary>Takes a free channel of a ready worker of the current generation, waiting for one up to the request timeout.</summary>
    /// <exception cref="GatewayUpstreamException">None became free in time, or the gateway is stopping.</exception>
    public PythonWorkerChannel Acquire()
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(_acquireTimeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            if (_idle.Reader.TryRead(out var channel))
            {
                if (TryTake(channel))
                {
                    return channel;
                }

                continue;
            }

            var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
            if (_stopping || left <= TimeSpan.Zero)
            {
                throw new GatewayUpstreamException(_stopping
                    ? "The Python gateway is stopping."
                    : $"No Python worker process was free within {_acquireTimeout.TotalSeconds:0.###} s.");
            }

            var ready = _idle.Reader.WaitToReadAsync().AsTask();
            if (!ready.Wait(left) || !ready.Result)
            {
                continue;
            }
        }
    }

    /// <summary>
    /// True when no channel is free and <paramref name="queueLimit"/> requests already wait for one
    /// (<see cref="AcquireAsync"/>): a request arriving now is refused.
    /// </summary>
    public bool IsFull(int queueLimit) => _idle.Reader.Count == 0 && Volatile.Read(ref _waiting) >= queueLimit;

    /// <summary>Requests waiting for a free channel (<see cref="AcquireAsync"/>).</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>
    /// <see cref="Acquire"/> for a request on its own flow: waiting for a free channel holds no thread.
    /// </summary>
    /// <exception cref="GatewayRejectedException">The gateway is stopping.</exception>
    /// <exception cref="RequestTimedOutException">None became free within the request timeout.</exception>
    /// <exception cref="GatewayUpstreamException">None became free within the start timeout (no request timeout is set).</exception>
    public ValueTask<PythonWorkerChannel> AcquireAsync()
    {
        while (_idle.Reader.TryRead(out var channel))
        {
            if (TryTake(channel))
            {
                return ValueTask.FromResult(channel);
            }
        }

        return WaitForChannelAsync();
    }

    private async ValueTask<PythonWorkerChannel> WaitForChannelAsync()
    {
        Interlocked.Increment(ref _waiting);
        try
        {
            using var deadline = new CancellationTokenSource(_acquireTimeout);
            while (true)
            {
                if (_stopping)
                {
                    throw new GatewayRejectedException("The Python gateway is stopping.");
                }

                PythonWorkerChannel channel;
                try
                {
                    // ReadAsync, not WaitToReadAsync: a channel given back wakes one waiter, the longest waiting, not all of them.
                    channel = await _idle.Reader.ReadAsync(deadline.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    if (_requestTimeout != Timeout.InfiniteTimeSpan)
                    {
                        throw new RequestTimedOutException();
                    }

                    throw new GatewayUpstreamException($"No Python worker process was free within {_acquireTimeout.TotalSeconds:0.###} s.");
                }
                catch (ChannelClosedException)
                {
                    throw new GatewayRejectedException("The Python gateway is stopping.");
                }

                if (TryTake(channel))
                {
                    return channel;
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
    }

    /// <summary>Takes a channel read from the idle channel, if its worker still serves the current generation; else it goes to the loop.</summary>
    private bool TryTake(PythonWorkerChannel channel)
    {
        var worker = channel.Worker;
        if (worker.Generation == Volatile.Read(ref _generation) && !worker.HasExited && worker.TryTake(channel))
        {
            if (Volatile.Read(ref _quiet) != 0 && Interlocked.Exchange(ref _quiet, 0) != 0)
            {
                // The first request after a quiet spell: its silence is watched at the usual pace again.
                _timer.Change(TickInterval, TickInterval);
            }

            return true;
        }

        Post(new Retired(worker, RestartReason.Reload));
        return false;
    }

    /// <summary>Gives a channel back after a request: straight to the idle channel when nothing is to change.</summary>
    /// <param name="channel">The worker's channel.</param>
    /// <param name="reusable">False when the channel is out of step (the worker died, or a response could not be ended).</param>
    public void Release(PythonWorkerChannel channel, bool reusable)
    {
        var worker = channel.Worker;
        var served = worker.CountServed();
        worker.Give(channel);
        var spent = worker.Limit != 0 && served >= worker.Limit;
        if (reusable && !spent && !_stopping && worker.Generation == Volatile.Read(ref _generation)
            && worker.State is PythonWorkerState.Idle or PythonWorkerState.Busy)
        {
            if (_idle.Writer.TryWrite(channel))
            {
                return;
            }
        }

        Post(new Retired(worker, !reusable ? RestartReason.None : spent ? RestartReason.MaxRequests : RestartReason.Reload));
    }

    /// <summary>
    /// At the host's shutdown timeout: kills the workers still in a request, whose requests then end as timed out
    /// (504, or cut short once bytes went out).
    /// </summary>
    public void EndRequests() => Post(DeadlineReached.Instance);

    /// <summary>Stops every worker (each ends after its current request) and waits for them, killing any left after a grace.</summary>
    public void Dispose()
    {
        // Called by ApplicationStopped and again when the container is disposed.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(new StopRequested(done));
        done.Task.Wait(StopGrace + TimeSpan.FromSeconds(2));
        _timer.Dispose();
        try
        {
            _scripts.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A temporary directory: the OS cleans it eventually.
        }
    }

    private void Post(object message) => _events.Writer.TryWrite(message);

    /// <summary>Writes the worker's scripts, again when missing: a temporary-files cleaner may have removed them from a long-running host.</summary>
    private void WriteScripts()
    {
        _scripts.Create();
        foreach (var name in (string[])["adapter_bridge.py", "gateway_worker.py"])
        {
            var path = Path.Combine(_scripts.FullName, name);
            if (File.Exists(path))
            {
                continue;
            }

            using var resource = Assembly.GetExecutingAssembly().GetManifestResourceStream(name)
                ?? throw new InvalidOperationException($"The {name} resource is missing.");
            using var file = File.Create(path);
            resource.CopyTo(file);
        }
    }

    private async Task RunAsync()
    {
        await foreach (var message in _events.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                Handle(message);
                if (_stopped is not null)
                {
                    if (_workers.Count == 0)
                    {
                        _stopped.TrySetResult();
                        _events.Writer.TryComplete();
                    }
                }
                else
                {
                    Reconcile();
                }
            }
            catch (Exception ex)
            {
                PythonGatewayLog.SupervisorFailed(_logger, ex);
            }

            _snapshot = [.. _workers];
        }
    }

    private void Handle(object message)
    {
        switch (message)
        {
            case LoadRequested load:
                if (_stopped is not null)
                {
                    load.Done.TrySetException(new InvalidOperationException("The Python gateway is stopping."));
                    break;
                }

                _targets.Add(load.Target);
                StartGeneration(load.Done, _targets.Count - 1);
                break;
            case ReloadRequested reload:
                if (_stopped is not null || _generation == 0 && _pending is null)
                {
                    // Nothing loaded yet: there is nothing to reload.
                    reload.Done.TrySetResult(0);
                    break;
                }

                PythonGatewayLog.Reloading(_logger, _processes);
                StartGeneration(reload.Done, added: null);
                break;
            case ScaleRequested scale:
                OnScale(scale);
                break;
            case Ready ready:
                OnReady(ready.Worker);
                break;
            case StartFailed failed:
                OnStartFailed(failed);
                break;
            case Exited exited:
                OnExited(exited.Worker);
                break;
            case Retired retired:
                if (_workers.Contains(retired.Worker) && retired.Worker.HasExited)
                {
                    // Ended before its Exited event was handled: handled now, so that a crash counts as one
                    // (the event then finds the worker gone).
                    OnExited(retired.Worker);
                }

                if (!_workers.Contains(retired.Worker))
                {
                    Reap(retired.Worker);
                }
                else if (retired.Worker.State != PythonWorkerState.Stopping)
                {
                    StopWorker(retired.Worker, retired.Reason);
                }
                else if (retired.Worker.Busy == 0)
                {
                    // The last request of a stopping worker has ended: its channels may close now.
                    retired.Worker.CloseInput();
                }

                break;
            case Tick:
                OnTick();
                break;
            case DeadlineReached:
                OnDeadline();
                break;
            case StopRequested stop:
                OnStop(stop.Done);
                break;
        }
    }

    private void OnScale(ScaleRequested scale)
    {
        var target = Math.Max(1, _processes + scale.Delta);
        if (_stopped is null && target != _processes)
        {
            Volatile.Write(ref _processes, target);
            PythonGatewayLog.WorkerCountChanged(_logger, target, scale.Delta > 0 ? "SIGTTIN" : "SIGTTOU");
            _countChanged?.Invoke(target);
        }

        scale.Done.TrySetResult(_processes);
    }

    private void StartGeneration(TaskCompletionSource<int> waiter, int? added)
    {
        var generation = new Generation(++_lastGeneration, _processes);
        if (_pending is { } superseded)
        {
            // A newer list of apps replaces the one still starting: its waiters wait for this generation instead.
            generation.Waiters.AddRange(superseded.Waiters);
            generation.Added.AddRange(superseded.Added);
            foreach (var worker in _workers.Where(w => w.Generation == superseded.Number).ToArray())
            {
                StopWorker(worker, RestartReason.None);
            }
        }

        generation.Waiters.Add((waiter, added ?? -1));
        if (added is { } index)
        {
            generation.Added.Add(index);
        }

        _pending = generation;
        for (var i = 0; i < _processes; i++)
        {
            if (!Spawn(generation.Number))
            {
                return;
            }
        }
    }

    /// <summary>Starts one worker and its import handshake; false when the process itself could not start (reported already).</summary>
    private bool Spawn(int generation)
    {
        var limit = _options.MaxRequests <= 0 ? 0 : _options.MaxRequests + Random.Shared.Next(Math.Max(0, _options.MaxRequestsJitter) + 1);
        PythonWorkerProcess worker;
        try
        {
            WriteScripts();
            worker = PythonWorkerProcess.Start(
                _options.PythonExecutable, Path.Combine(_scripts.FullName, "gateway_worker.py"), _paths, generation, limit, Math.Max(1, _options.ProcessThreads), _loggers,
                w => Post(new Exited(w)));
        }
        catch (Exception ex) when (ex is PythonUnavailableException or IOException or UnauthorizedAccessException)
        {
            OnStartFailed(new StartFailed(generation, null, ex.Message));
            return false;
        }

        worker.Starting = true;
        _workers.Add(worker);
        var targets = _targets.Select(static (target, index) => (target, index)).Where(static t => t.target is not null).ToArray();
        _ = Task.Run(() => Handshake(worker, targets!));
        return true;
    }

    /// <summary>Off the loop: has the new worker import every app, then reports it ready or failed.</summary>
    private void Handshake(PythonWorkerProcess worker, (string Target, int Index)[] targets)
    {
        object outcome;
        try
        {
            outcome = Import(worker, targets);
        }
        catch (Exception ex)
        {
            outcome = new StartFailed(worker.Generation, worker, $"The Python worker process {worker.Id} failed to start: {ex.Message}");
        }

        // Let go before the loop hears of it: from then on the loop may dispose the worker.
        worker.Starting = false;
        Post(outcome);
    }

    /// <summary>Sends every load and reads every answer: <see cref="Ready"/> or <see cref="StartFailed"/>.</summary>
    private object Import(PythonWorkerProcess worker, (string Target, int Index)[] targets)
    {
        using var deadline = new Timer(static w => ((PythonWorkerProcess)w!).Kill(), worker, _options.StartTimeout, Timeout.InfiniteTimeSpan);
        using (var connect = new CancellationTokenSource(_options.StartTimeout))
        {
            if (!worker.ConnectChannels(connect.Token))
            {
                worker.WaitForExit(TimeSpan.FromSeconds(2));
                return new StartFailed(worker.Generation, worker,
                    $"The Python worker process {worker.Id} ({Interpreter()}) did not connect its {worker.Threads} channels ({worker.ExitDescription ?? "still running"}). Its last output:\n{worker.Tail()}");
            }
        }

        foreach (var (target, index) in targets)
        {
            var name = Encoding.UTF8.GetBytes(target);
            var payload = new byte[4 + name.Length];
            BinaryPrimitives.WriteInt32BigEndian(payload, index);
            name.CopyTo(payload, 4);
            var answer = worker.Main.TrySend((byte)'L', payload) ? worker.Main.Receive() : null;
            if (answer is not { } frame)
            {
                worker.WaitForExit(TimeSpan.FromSeconds(2));
                return new StartFailed(worker.Generation, worker,
                    $"Cannot load '{target}' in {Interpreter()}: the Python worker process {worker.Id} ended while importing it ({worker.ExitDescription ?? "no exit status"}; "
                    + $"the start timeout is {_options.StartTimeout.TotalSeconds:0.###} s). Its last output:\n{worker.Tail()}");
            }

            if (frame.Kind != (byte)'K')
            {
                return new StartFailed(worker.Generation, worker, $"Cannot load '{target}' in {Interpreter()}: {PythonWorkerProcess.Text(frame.Payload)}");
            }
        }

        return new Ready(worker);
    }

    /// <summary>For a failure's message: which Python the workers run, and where to choose another.</summary>
    private string Interpreter() => $"{PythonInterpreter.Describe(_options.PythonExecutable)} (another interpreter: {PythonInterpreter.Setting})";

    private void OnReady(PythonWorkerProcess worker)
    {
        if (_stopped is not null || !_workers.Contains(worker))
        {
            StopWorker(worker, RestartReason.None);
            return;
        }

        if (_pending is { } pending && worker.Generation == pending.Number)
        {
            pending.Ready.Add(worker);
            if (pending.Ready.Count == pending.Size)
            {
                Promote(pending);
            }

            return;
        }

        if (worker.Generation == _generation)
        {
            _backoff = TimeSpan.Zero;
            MakeIdle(worker);
            return;
        }

        StopWorker(worker, RestartReason.None);
    }

    private void Promote(Generation generation)
    {
        var first = _generation == 0;
        Volatile.Write(ref _generation, generation.Number);
        _pending = null;

        // Only idle workers this loop takes out of the channel are stopped now; one a request thread holds
        // comes back through Release, sees the old generation, and is stopped then.
        while (_idle.Reader.TryRead(out var old))
        {
            StopWorker(old.Worker, RestartReason.Reload);
        }

        foreach (var worker in generation.Ready)
        {
            MakeIdle(worker);
        }

        foreach (var (waiter, index) in generation.Waiters)
        {
            waiter.TrySetResult(index);
        }

        if (!first)
        {
            PythonGatewayLog.Reloaded(_logger, generation.Number, string.Join(", ", generation.Ready.Select(static w => w.Id)));
        }
        else
        {
            PythonGatewayLog.WorkersStarted(_logger, generation.Size, string.Join(", ", generation.Ready.Select(static w => w.Id)));
        }
    }

    private void MakeIdle(PythonWorkerProcess worker)
    {
        worker.State = PythonWorkerState.Idle;
        foreach (var channel in worker.Channels)
        {
            if (!_idle.Writer.TryWrite(channel))
            {
                StopWorker(worker, RestartReason.None);
                return;
            }
        }
    }

    private void OnStartFailed(StartFailed failed)
    {
        if (failed.Worker is { } worker && _workers.Contains(worker))
        {
            worker.State = PythonWorkerState.Stopping;
            worker.StoppingSince = Stopwatch.GetTimestamp();
            worker.Kill();
        }
        else
        {
            // Its exit was handled while the handshake still held it.
            failed.Worker?.Dispose();
        }

        if (_pending is { } pending && failed.Generation == pending.Number)
        {
            _pending = null;
            foreach (var other in _workers.Where(w => w.Generation == pending.Number).ToArray())
            {
                StopWorker(other, RestartReason.None);
            }

            foreach (var index in pending.Added)
            {
                _targets[index] = null;
            }

            PythonGatewayLog.GenerationFailed(_logger, failed.Message);
            foreach (var (waiter, _) in pending.Waiters)
            {
                waiter.TrySetException(new InvalidOperationException(failed.Message));
            }

            return;
        }

        if (failed.Generation == _generation)
        {
            // A replacement failed (an app edited into a broken state, say): retried, less and less often.
            PythonGatewayLog.WorkerStartFailed(_logger, failed.Message);
            Backoff();
        }
    }

    private void OnExited(PythonWorkerProcess worker)
    {
        if (!_workers.Remove(worker))
        {
            return;
        }

        var state = worker.State;
        if (state is PythonWorkerState.Idle && worker.ExitCode == 0)
        {
            // Ended on its own after a SIGTERM (a service manager stopping the whole group, say).
            PythonGatewayLog.WorkerExited(_logger, worker.Id);
            _metrics.Restarted(RestartReason.Crash);
        }
        else if (state is PythonWorkerState.Idle or PythonWorkerState.Busy)
        {
            PythonGatewayLog.WorkerCrashed(_logger, worker.Id, worker.ExitDescription ?? "exited", state == PythonWorkerState.Busy ? "during a request" : "while idle", worker.Tail());
            _metrics.Restarted(RestartReason.Crash);
            Backoff();
        }

        // A worker a request thread or its handshake still holds is disposed when it comes back (Retired, or a
        // failed start): its last frames may still be in the pipe, and nothing may be disposed under a read.
        if (!worker.Held)
        {
            worker.Dispose();
        }
    }

    private void Reap(PythonWorkerProcess worker)
    {
        _workers.Remove(worker);
        if (!worker.Held)
        {
            worker.Dispose();
        }
    }

    private void Backoff()
    {
        var now = Stopwatch.GetTimestamp();
        _backoff = _lastCrash != 0 && Stopwatch.GetElapsedTime(_lastCrash, now) < MaxBackoff
            ? TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, Math.Max(TimeSpan.FromMilliseconds(100).Ticks, _backoff.Ticks * 2)))
            : TimeSpan.Zero;
        _lastCrash = now;
        _spawnAfter = now + (long)(_backoff.TotalSeconds * Stopwatch.Frequency);
    }

    private void StopWorker(PythonWorkerProcess worker, RestartReason reason)
    {
        if (worker.State == PythonWorkerState.Stopping)
        {
            return;
        }

        worker.StoppingSince = Stopwatch.GetTimestamp();
        if (worker.BeginStopping())
        {
            // Otherwise when its last request ends (Retired): closing a channel stops the response on it.
            worker.CloseInput();
        }

        if (reason != RestartReason.None)
        {
            _metrics.Restarted(reason);
            if (reason == RestartReason.MaxRequests)
            {
                PythonGatewayLog.WorkerRecycled(_logger, worker.Id, worker.Served);
            }
        }
    }

    private void OnTick()
    {
        var quiet = _pending is null && Stopwatch.GetTimestamp() >= _spawnAfter;
        foreach (var worker in _workers.ToArray())
        {
            quiet &= worker.State == PythonWorkerState.Idle;
            var state = worker.State;
            var waiting = worker.WaitingSince;
            if (state == PythonWorkerState.Busy && _requestTimeout != Timeout.InfiniteTimeSpan && waiting != 0
                && Stopwatch.GetElapsedTime(waiting) > _requestTimeout && worker.TryChangeState(PythonWorkerState.Busy, PythonWorkerState.Stopping))
            {
                // gunicorn's timeout: a worker silent this long is stuck in the app; only ending the process frees it.
                worker.StoppingSince = Stopwatch.GetTimestamp();
                worker.StopReason = TimeoutReason;
                PythonGatewayLog.WorkerTimedOut(_logger, worker.Id, _requestTimeout);
                _metrics.Restarted(RestartReason.Timeout);
                worker.Terminate();

                // A request reading it on its own flow answers 504 now, not once the process is gone.
                worker.CancelPendingReads();
            }
            else if (state == PythonWorkerState.Stopping && Stopwatch.GetElapsedTime(worker.StoppingSince) > (worker.StopReason == TimeoutReason ? KillGrace : StopGrace))
            {
                worker.Kill();
            }
        }

        if (quiet && _workers.Count >= _processes)
        {
            if (Interlocked.Exchange(ref _quiet, 1) == 0)
            {
                _timer.Change(QuietTickInterval, QuietTickInterval);
            }
        }
        else if (Interlocked.Exchange(ref _quiet, 0) != 0)
        {
            // A request took a worker as the spell began, unseen by it: at most one slow tick late.
            _timer.Change(TickInterval, TickInterval);
        }
    }

    private void OnDeadline()
    {
        // The host is going down: no replacement is started for the workers killed here (one would only be stopped
        // again, and the host would wait for its start).
        _ending = true;
        foreach (var worker in _workers.ToArray())
        {
            if (worker.TryChangeState(PythonWorkerState.Busy, PythonWorkerState.Stopping))
            {
                worker.StoppingSince = Stopwatch.GetTimestamp();
                worker.StopReason = ShutdownReason;
                worker.Kill();
                worker.CancelPendingReads();
            }
        }
    }

    /// <summary>
    /// Brings the current generation to the target count: stops idle workers past it (a busy one is stopped on a later
    /// pass, once its request has put it back in the idle channel), or starts workers up to it unless a crash back-off holds.
    /// </summary>
    private void Reconcile()
    {
        if (_generation == 0 || _ending)
        {
            return;
        }

        var live = _workers.Count(w => w.Generation == _generation && w.State != PythonWorkerState.Stopping);
        while (live > _processes && _idle.Reader.TryRead(out var surplus))
        {
            // Taken out of the idle queue, so no request thread can acquire it now; a worker's other idle channels
            // are passed over by acquirers once it is stopping.
            if (surplus.Worker.State != PythonWorkerState.Stopping)
            {
                StopWorker(surplus.Worker, RestartReason.None);
                live--;
            }
        }

        if (Stopwatch.GetTimestamp() < _spawnAfter)
        {
            return;
        }

        for (var i = live; i < _processes; i++)
        {
            if (!Spawn(_generation))
            {
                return;
            }
        }
    }

    private void OnStop(TaskCompletionSource done)
    {
        _stopping = true;
        _stopped = done;
        _idle.Writer.TryComplete();
        if (_pending is { } pending)
        {
            _pending = null;
            foreach (var (waiter, _) in pending.Waiters)
            {
                waiter.TrySetException(new InvalidOperationException("The Python gateway stopped while its workers were starting."));
            }
        }

        foreach (var worker in _workers.ToArray())
        {
            var busy = worker.State == PythonWorkerState.Busy;
            StopWorker(worker, RestartReason.None);
            if (busy)
            {
                // Still in a request once the server has stopped: the host's shutdown timeout (gunicorn's graceful
                // timeout) has passed, and its request was answered as timed out. gunicorn kills such workers then.
                worker.Kill();
            }
        }
    }

    private sealed class Generation(int number, int size)
    {
        public int Number { get; } = number;

        /// <summary>The workers started for it; it is promoted once that many are ready, whatever the target is by then.</summary>
        public int Size { get; } = size;

        public List<PythonWorkerProcess> Ready { get; } = [];

        public List<(TaskCompletionSource<int> Waiter, int Index)> Waiters { get; } = [];

        public List<int> Added { get; } = [];
    }

    private sealed record LoadRequested(string Target, TaskCompletionSource<int> Done);

    private sealed record ReloadRequested(TaskCompletionSource<int> Done);

    private sealed record ScaleRequested(int Delta, TaskCompletionSource<int> Done);

    private sealed record Ready(PythonWorkerProcess Worker);

    private sealed record StartFailed(int Generation, PythonWorkerProcess? Worker, string Message);

    private sealed record Exited(PythonWorkerProcess Worker);

    private sealed record Retired(PythonWorkerProcess Worker, RestartReason Reason);

    private sealed record StopRequested(TaskCompletionSource Done);

    private sealed class DeadlineReached
    {
        public static readonly DeadlineReached Instance = new();
    }

    private sealed class Tick
    {
        public static readonly Tick Instance = new();
    }
}

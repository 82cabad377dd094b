namespace Adapter.Tests.Interleaving;

/// <summary>
/// Runs a few threads ("actors") one at a time. At every scheduling point the running actor stops and a
/// seeded random choice picks which actor goes on, so one seed is one interleaving, replayed exactly, and
/// many seeds explore the orderings a stress run may never hit. Code under test reaches the points through
/// <see cref="SteppedGate"/> and <see cref="SteppedPipe"/>; threads the scheduler did not start pass through.
/// </summary>
internal sealed class StepScheduler
{
    private static readonly TimeSpan Stall = TimeSpan.FromSeconds(10);

    [ThreadStatic]
    private static Actor? t_current;

    private readonly Random _random;
    private readonly List<Actor> _actors = [];
    private readonly List<string> _trace = [];
    private readonly ManualResetEventSlim _allDone = new();
    private string? _failure;

    public StepScheduler(int seed) => _random = new Random(seed);

    /// <summary>The random source of this interleaving, for choices the fakes make (a flush pending or not).</summary>
    public Random Random => _random;

    /// <summary>The actor running on the calling thread, or null on a thread the scheduler does not control.</summary>
    public static Actor? Current => t_current;

    /// <summary>Steps taken, newest last: what to read when an interleaving fails.</summary>
    public string Trace => string.Join(" > ", _trace.TakeLast(60));

    /// <summary>Runs the actors to their end, one step at a time; throws on a deadlock or an actor's failure.</summary>
    public void Run(params (string Name, Action Body)[] actors)
    {
        foreach (var (name, body) in actors)
        {
            var actor = new Actor(this, name);
            _actors.Add(actor);
            actor.Thread = new Thread(() => actor.Main(body)) { IsBackground = true, Name = "stepped " + name };
        }

        foreach (var actor in _actors)
        {
            actor.Thread!.Start();
        }

        lock (_actors)
        {
            PickNext(from: null);
        }

        if (!_allDone.Wait(Stall * 2))
        {
            throw new TimeoutException("An interleaving did not finish: " + Trace);
        }

        if (_failure is not null)
        {
            throw new InvalidOperationException(_failure + "\nSteps: " + Trace);
        }
    }

    /// <summary>A point where another actor may run.</summary>
    public static void Point(string what) => t_current?.Yield(what, until: null);

    /// <summary>Stops the calling actor until <paramref name="condition"/> holds (checked only while no actor runs).</summary>
    public static void BlockUntil(string what, Func<bool> condition)
    {
        if (t_current is { } actor)
        {
            actor.Yield(what, condition, canTimeOut: false);
        }
        else if (!SpinWait.SpinUntil(condition, Stall))
        {
            throw new TimeoutException("Blocked outside the scheduler: " + what);
        }
    }

    /// <summary>
    /// As <see cref="BlockUntil"/> for a wait with a time limit: false when the wait timed out instead, which the
    /// scheduler lets happen only when no actor can run, so a timeout never hides a missed wake-up.
    /// </summary>
    public static bool BlockUntilOrTimeout(string what, Func<bool> condition) =>
        t_current is not { } actor
            ? throw new InvalidOperationException("A timed wait is for stepped actors only.")
            : actor.Yield(what, condition, canTimeOut: true);

    /// <summary>Called with the scheduler's lock held: hands the turn to a runnable actor, or reports a deadlock.</summary>
    private void PickNext(Actor? from)
    {
        var runnable = _actors.Where(static a => !a.Done && (a.Until is null || a.Until())).ToList();
        if (runnable.Count == 0 && _actors.Where(static a => !a.Done && a.CanTimeOut).ToList() is { Count: > 0 } timed)
        {
            // Nothing can run: one of the timed waits runs out.
            var expired = timed[_random.Next(timed.Count)];
            expired.TimedOut = true;
            _trace.Add(expired.Name + ":timed-out");
            runnable.Add(expired);
        }

        if (runnable.Count == 0)
        {
            if (_actors.Any(static a => !a.Done))
            {
                Fail("deadlock: " + string.Join(", ", _actors.Where(static a => !a.Done).Select(static a => $"{a.Name} waits at {a.At}")));
                foreach (var actor in _actors)
                {
                    actor.Abandon();
                }
            }

            _allDone.Set();
            return;
        }

        var next = runnable[_random.Next(runnable.Count)];
        next.Until = null;
        next.CanTimeOut = false;
        if (!ReferenceEquals(next, from))
        {
            next.Go();
        }
        else
        {
            from.KeepGoing = true;
        }
    }

    private void Fail(string message) => _failure ??= message;

    /// <summary>One controlled thread.</summary>
    internal sealed class Actor(StepScheduler scheduler, string name)
    {
        private readonly SemaphoreSlim _turn = new(0);
        private volatile bool _abandoned;

        public string Name { get; } = name;

        public Thread? Thread { get; set; }

        public bool Done { get; private set; }

        public Func<bool>? Until { get; set; }

        public string At { get; private set; } = "start";

        public bool KeepGoing { get; set; }

        /// <summary>The actor's wait may time out when nothing else can run.</summary>
        public bool CanTimeOut { get; set; }

        /// <summary>Set when the scheduler ended the actor's wait as a timeout.</summary>
        public bool TimedOut { get; set; }

        public void Go() => _turn.Release();

        public void Abandon()
        {
            _abandoned = true;
            _turn.Release();
        }

        public void Main(Action body)
        {
            t_current = this;
            try
            {
                WaitForTurn();
                body();
            }
            catch (AbandonedException)
            {
            }
            catch (Exception ex)
            {
                lock (scheduler._actors)
                {
                    scheduler.Fail($"{Name} failed: {ex}");
                }
            }
            finally
            {
                t_current = null;
                lock (scheduler._actors)
                {
                    Done = true;
                    scheduler._trace.Add(Name + ":end");
                    if (!_abandoned)
                    {
                        scheduler.PickNext(from: null);
                    }
                }
            }
        }

        /// <returns>False when a wait that may time out did.</returns>
        public bool Yield(string what, Func<bool>? until, bool canTimeOut = false)
        {
            if (_abandoned)
            {
                // A deadlock was reported: the actor only unwinds now.
                return true;
            }

            lock (scheduler._actors)
            {
                At = what;
                scheduler._trace.Add(Name + ":" + what);
                Until = until;
                CanTimeOut = canTimeOut && until is not null;
                TimedOut = false;
                KeepGoing = false;
                scheduler.PickNext(from: this);
                if (KeepGoing)
                {
                    return !TimedOut;
                }
            }

            WaitForTurn();
            return !TimedOut;
        }

        private void WaitForTurn()
        {
            if (!_turn.Wait(Stall))
            {
                throw new TimeoutException($"{Name} never got its turn back at {At}.");
            }

            if (_abandoned)
            {
                throw new AbandonedException();
            }
        }
    }

    private sealed class AbandonedException : Exception;
}

import asyncio
import itertools

import barrier
import pytest
from harness import EARLY, MARGIN, Span, Timeline, scaled

# The simulation is over in 0.6 s: workers stuck at a barrier fail in 1.4 s, not 5.
pytestmark = pytest.mark.timeout(2)

PHASES = 3
# Seconds each worker takes in phases 1, 2 and 3: the slowest worker is another in each phase.
DELAYS = {"A": (0.2, 0.1, 0.1), "B": (0.1, 0.2, 0.1), "C": (0.1, 0.1, 0.2)}
NO_DELAYS = dict.fromkeys(DELAYS, (0.0, 0.0, 0.0))
SLOWEST = [max(d[k] for d in DELAYS.values()) for k in range(PHASES)]  # 0.2, 0.2, 0.2
EVERYTHING = sum(sum(d) for d in DELAYS.values())  # 1.2 s: every phase of every worker in turn
# The simulation needs 0.6 s and everything in turn 1.2 s: still running after 1.4 s means stuck
# (and the harness's own deadline, 0.8 x the timeout, comes 0.2 s later).
STUCK_AFTER = 1.4
CALL = "simulate([A, B, C], phases=3)"
EXPECTED = [[f"{name} phase {k}" for k in range(1, PHASES + 1)] for name in DELAYS]
ONE_BARRIER = (
    "create ONE `barrier = asyncio.Barrier(len(workers))` in simulate(), and give each worker "
    "one task that loops over the phases: `await worker.run_phase(phase)`, then "
    "`await barrier.wait()`."
)


class BadPhase(Exception):
    """run_phase() was called with a phase number the simulation does not have."""


class FakeWorker:
    """A worker on the timeline: each phase is recorded as "<name> phase <k>"."""

    def __init__(self, sim: "Simulation", name: str, delays: tuple[float, ...]) -> None:
        self.sim, self.name, self.delays = sim, name, delays
        self.called: list[int] = []  # the phases asked for, in order
        self.finished = 0  # how many phases have ended

    async def run_phase(self, phase: int) -> str:
        self.called.append(phase)
        if not 1 <= phase <= PHASES:
            self.sim.mistake = (
                f"simulate() called {self.name}.run_phase({phase!r}): the phases are numbered "
                f"1 to {PHASES}.\nLikely mistake: `range(phases)` counts from 0.\n"
                "Try: `for phase in range(1, phases + 1):`."
            )
            raise BadPhase(self.sim.mistake)
        label = f"{self.name} phase {phase}"
        report = str(await self.sim.timeline.work(label, self.delays[phase - 1], label))
        self.finished += 1
        return report


class Simulation:
    """The fake workers A, B and C, and what to say when simulate() never returns."""

    def __init__(self, timeline: Timeline, delays: dict[str, tuple[float, ...]] = DELAYS) -> None:
        self.timeline = timeline
        self.workers = [FakeWorker(self, name, d) for name, d in delays.items()]
        self.mistake = ""

    def phase(self, k: int) -> list[Span]:
        """The recorded calls of phase k, one per worker that ran it."""
        return [s for s in self.timeline.spans if s.label.endswith(f" phase {k}")]

    def stuck(self) -> str:
        """Why simulate() had not returned after STUCK_AFTER seconds, from the workers' state."""
        started = [w.name for w in self.workers if w.called]
        idle = [w.name for w in self.workers if not w.called]
        done = {w.finished for w in self.workers}
        if started and idle:
            why = (
                f"only {' and '.join(started)} ran; {' and '.join(idle)} never started.\n"
                "Likely mistake: awaiting the workers one after another. The first one waits at "
                "the barrier for the others, and they would only start once it is done: a "
                "deadlock.\nTry: start every worker as a task (a TaskGroup, or asyncio.gather) "
                "before waiting for any of them."
            )
        elif len(done) == 1 and 0 < (k := done.pop()) < PHASES and started:
            why = (
                f"every worker finished phase {k}, then waited forever: the barrier never "
                "opened.\nLikely mistake: a Barrier whose `parties` is not the number of "
                "workers that wait at it (it opens when that many tasks are waiting; with "
                f"{len(self.workers)} workers it must be asyncio.Barrier(len(workers))), or a "
                f"Barrier per worker instead of one shared by all.\nTry: {ONE_BARRIER}"
            )
        elif any(s.end is None for s in self.timeline.spans):
            why = (
                "it was still working, far slower than the slowest worker of each phase added "
                "up.\nLikely mistake: the workers (or the phases) running one after another.\n"
                f"Try: {ONE_BARRIER}"
            )
        else:
            why = f"something it awaits never finishes (a deadlock).\nTry: {ONE_BARRIER}"
        return (
            f"{CALL} was still running after {scaled(STUCK_AFTER):.1f} s, although it needs "
            f"{scaled(sum(SLOWEST)):.1f} s: {why}\n\n{self.timeline.draw()}"
        )


async def run(sim: Simulation) -> list[list[str]]:
    """simulate(workers, 3), failing the test with an explanation if it misuses or hangs."""
    reports: list[list[str]] = []
    stuck = False
    try:
        async with asyncio.timeout(scaled(STUCK_AFTER)):
            reports = await barrier.simulate(list(sim.workers), PHASES)
    except TimeoutError:
        stuck = True
    except Exception:
        if not sim.mistake:
            raise
    # Failing outside `except` shows the explanation alone, not the exception it replaces.
    if stuck:
        pytest.fail(sim.stuck(), pytrace=False)
    if sim.mistake:
        pytest.fail(f"{sim.mistake}\n\n{sim.timeline.draw()}", pytrace=False)
    return reports


def expect_lockstep(sim: Simulation) -> None:
    """Probe: every call of phase k started after every call of phase k - 1 had ended."""
    __tracebackhide__ = True
    for k in range(2, PHASES + 1):
        previous = sim.phase(k - 1)
        last = max(previous, key=lambda s: s.end or sim.timeline.now())
        last_end = last.end or sim.timeline.now()
        early = [s for s in sim.phase(k) if s.start < last_end]
        if not early:
            continue
        first = min(early, key=lambda s: s.start)
        if k > 2:
            mistake = (
                f"phase 2 waited for everyone, yet phase {k} did not: whatever the workers wait "
                "at worked once and then stayed open. Likely mistake: a gate that does not "
                "reset, such as an Event set by the last arrival (it stays set) or a counter "
                "never set back to 0. asyncio.Barrier closes again by itself after each opening."
            )
        else:
            mistake = (
                f"{first.label.split()[0]} did not wait for the others. Likely mistake: no "
                "barrier between the phases, or one with fewer parties than workers (it opens "
                "before everyone is there)."
            )
        pytest.fail(
            f"{CALL}: {first.label} started at {first.start:.2f} s, while {last.label} was still "
            f"running (until {last_end:.2f} s): {mistake}\nExpected: no worker starts phase "
            f"{k} before every worker has finished phase {k - 1}.\nTry: {ONE_BARRIER}\n\n"
            + sim.timeline.draw(),
            pytrace=False,
        )


async def test_every_worker_reports_every_phase_in_order(timeline: Timeline) -> None:
    sim = Simulation(timeline)
    reports = await run(sim)
    wrong = [f"{w.name}: {w.called}" for w in sim.workers if w.called != [1, 2, 3]]
    assert not wrong, (
        f"{CALL} asked for these phases: {'; '.join(wrong)}.\nExpected: every worker runs "
        "phase 1, 2 and 3, once each, in that order.\nTry: in each worker's task, "
        "`for phase in range(1, phases + 1): ...await worker.run_phase(phase)...`\n\n"
        + timeline.draw()
    )
    assert reports == EXPECTED, (
        f"{CALL} returned {reports!r}, expected {EXPECTED!r}: for each worker (in the order "
        "given) the list of its reports, in phase order. Is a task returned instead of its "
        "result, or are the reports grouped by phase instead of by worker?"
    )


async def test_no_worker_starts_a_phase_before_every_worker_has_finished_the_previous_one(
    timeline: Timeline,
) -> None:
    sim = Simulation(timeline)
    await run(sim)
    expect_lockstep(sim)


async def test_each_worker_runs_all_its_phases_in_one_task_of_its_own(timeline: Timeline) -> None:
    sim = Simulation(timeline, NO_DELAYS)  # which task ran which call: no clock needed
    await run(sim)
    tasks = {
        w.name: [timeline.span(f"{w.name} phase {k}").task for k in (1, 2, 3)] for w in sim.workers
    }
    for name, used in tasks.items():
        if len(set(map(id, used))) > 1:
            pytest.fail(
                f"{CALL}: {name}'s phases ran in {len(set(map(id, used)))} different tasks: a "
                "new task for every phase.\nLikely mistake: gathering the workers phase by "
                "phase (asyncio.gather or a TaskGroup per phase): each phase starts fresh "
                f"tasks, and a worker cannot keep its district in memory between phases.\n"
                "Expected: each worker ONE long-lived task that runs phase 1, 2 and 3.\n"
                f"Try: {ONE_BARRIER}\n\n{timeline.draw()}",
                pytrace=False,
            )
    for (a, a_tasks), (b, b_tasks) in itertools.combinations(tasks.items(), 2):
        if a_tasks[0] is b_tasks[0]:
            pytest.fail(
                f"{CALL}: {a} and {b} ran in the same task, so one after another.\n"
                "Expected: a task of its own for every worker, all running at once.\n"
                f"Try: {ONE_BARRIER}\n\n{timeline.draw()}",
                pytrace=False,
            )


async def test_the_workers_of_a_phase_run_together_so_it_takes_the_slowest_of_each_phase(
    timeline: Timeline,
) -> None:
    sim = Simulation(timeline)
    began = timeline.now()
    await run(sim)
    took = timeline.now() - began
    expect_lockstep(sim)
    # The slowest call of each phase as measured, added up: the time the simulation needs.
    slowest = [max((s.end or 0.0) - s.start for s in sim.phase(k)) for k in (1, 2, 3)]
    ideal = sum(slowest)
    if took <= ideal + scaled(MARGIN):
        return
    if took >= EARLY * scaled(EVERYTHING):
        verdict = (
            f"the SUM of every phase of every worker ({scaled(EVERYTHING):.2f} s): everything "
            "ran one after another, nothing at the same time."
        )
    else:
        verdict = (
            "longer than needed: a phase started well after the last worker had finished the "
            "previous one, or some worker started its phase well after the others.\n"
            "Likely mistake: waiting a fixed time between phases (asyncio.sleep) instead of "
            "waiting for the others, polling them now and then, or running some workers one "
            "after another."
        )
    parts = " + ".join(f"{t:.3f}" for t in slowest)
    pytest.fail(
        f"{CALL} took {took:.2f} s, {verdict}\nExpected: the slowest worker of each phase, "
        f"added up: {parts} = {ideal:.3f} s as measured (at most "
        f"{ideal + scaled(MARGIN):.2f} s).\nTry: {ONE_BARRIER} The barrier opens the moment "
        f"the last worker arrives, so each phase starts right then.\n\n{timeline.draw()}",
        pytrace=False,
    )

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import barrier
import pytest
from harness import (
    EARLY,
    MARGIN,
    Span,
    Timeline,
    cancel_midway,
    fail,
    left_running_after,
    listed,
    scaled,
    started_tasks,
    swap_in,
)

# The simulation is over in 0.6 s: workers stuck at a barrier fail in 1.4 s, not 5.
pytestmark = pytest.mark.timeout(2)

PHASES = 3
# Seconds each worker takes in phases 1, 2 and 3: the slowest worker is another in each phase.
DELAYS: dict[str, tuple[float, ...]] = {
    "A": (0.2, 0.1, 0.1),
    "B": (0.1, 0.2, 0.1),
    "C": (0.1, 0.1, 0.2),
}
NO_DELAYS: dict[str, tuple[float, ...]] = dict.fromkeys(DELAYS, (0.0, 0.0, 0.0))
SLOWEST = [max(d[k] for d in DELAYS.values()) for k in range(PHASES)]  # 0.2, 0.2, 0.2
EVERYTHING = sum(sum(d) for d in DELAYS.values())  # 1.2 s: every phase of every worker in turn
# The simulation needs 0.6 s and everything in turn 1.2 s: still running after 1.4 s means stuck
# (and the harness's own deadline, 0.8 x the timeout, comes 0.2 s later).
STUCK_AFTER = 1.4
# The failing-worker test: A's phase 2 raises at 0.1 s, while B's phase 2 would run until 0.3 s
# and C waits at the barrier: stopping them costs nothing, waiting B out 0.2 s.
CRASHING = "A phase 2"
CRASH_DELAYS: dict[str, tuple[float, ...]] = {
    "A": (0.0, 0.1, 0.0),
    "B": (0.0, 0.3, 0.0),
    "C": (0.0, 0.0, 0.0),
}
TURNS = 10  # loop turns within which the next phase must start once the last worker is done
# A worker wakes once per phase for its work and once more at the barrier, and up to twice more
# per phase under stress jitter: 3 x (1 + 1 + 2).
MOST_WAKEUPS = 12
CALL = "simulate([A, B, C], phases=3)"
ORIGINAL_BARRIER = asyncio.Barrier  # barrier.py sees a watched subclass in its place
EXPECTED = [[f"{name} phase {k}" for k in range(1, PHASES + 1)] for name in DELAYS]
ONE_BARRIER = (
    "create ONE `barrier = asyncio.Barrier(len(workers))` in simulate(), and give each worker "
    "one task that loops over the phases: `await worker.run_phase(phase)`, then "
    "`await barrier.wait()`."
)


BARRIERS: list[Any] = []  # the asyncio.Barriers made while the test runs (see `barriers`)


async def test_every_worker_reports_every_phase_in_order(timeline: Timeline) -> None:
    sim = Simulation(timeline)
    reports = await run_simulation(sim)
    wrong = [f"{w.name}: {w.called}" for w in sim.workers if w.called != [1, 2, 3]]
    if wrong:
        fail(
            f"{CALL} asked for these phases: {'; '.join(wrong)}.\nExpected: every worker runs "
            "phase 1, 2 and 3, once each, in that order.\nTry: in each worker's task, "
            "`for phase in range(1, phases + 1): ...await worker.run_phase(phase)...`\n\n"
            + timeline.draw()
        )
    if reports != EXPECTED:
        by_phase = [list(r) for r in zip(*EXPECTED, strict=True)]
        fail(
            f"{CALL} returned {reports!r}, expected {EXPECTED!r}: for each worker (in the "
            "order given) the list of its reports, in phase order."
            + (
                "\nThose are the reports grouped by phase, not by worker."
                if reports == by_phase
                else ""
            )
            + "\nTry: each worker's task returns the list of its own reports; return "
            "[task.result() for task in tasks] in the order of the workers."
        )


async def test_no_worker_starts_a_phase_before_every_worker_has_finished_the_previous_one(
    timeline: Timeline,
) -> None:
    sim = Simulation(timeline)
    await run_simulation(sim)
    expect_lockstep(sim)


async def test_each_worker_runs_all_its_phases_in_one_task_of_its_own(timeline: Timeline) -> None:
    sim = Simulation(timeline, NO_DELAYS)  # which task ran which call: no clock needed
    await run_simulation(sim)
    tasks = {
        w.name: [timeline.span(f"{w.name} phase {k}").task for k in (1, 2, 3)] for w in sim.workers
    }
    for name, used in tasks.items():
        if len(set(map(id, used))) > 1:
            fail(
                f"{CALL}: {name}'s phases ran in {len(set(map(id, used)))} different tasks: a "
                "new task for every phase.\nLikely mistake: gathering the workers phase by "
                "phase (asyncio.gather or a TaskGroup per phase): each phase starts fresh "
                f"tasks, and a worker cannot keep its district in memory between phases.\n"
                "Expected: each worker ONE long-lived task that runs phase 1, 2 and 3.\n"
                f"Try: {ONE_BARRIER}\n\n{timeline.draw()}"
            )
    for (a, a_tasks), (b, b_tasks) in itertools.combinations(tasks.items(), 2):
        if a_tasks[0] is b_tasks[0]:
            fail(
                f"{CALL}: {a} and {b} ran in the same task, so one after another.\n"
                "Expected: a task of its own for every worker, all running at once.\n"
                f"Try: {ONE_BARRIER}\n\n{timeline.draw()}"
            )


async def test_a_worker_waits_for_the_others_without_polling(timeline: Timeline) -> None:
    sim = Simulation(timeline)
    with started_tasks(count_wakeups=True) as started:
        await run_simulation(sim)
    started.expect_no_polling(
        most=MOST_WAKEUPS,
        what=f"{CALL}, where each worker waits up to {scaled(0.1):.2f} s a phase for the others",
        wait_on="one asyncio.Barrier shared by all the workers (`await barrier.wait()`)",
        timeline=timeline,
    )


async def test_the_next_phase_starts_the_moment_the_last_worker_has_finished(
    timeline: Timeline,
) -> None:
    sim = Simulation(timeline, NO_DELAYS)  # phases take no time: counted in loop turns
    with started_tasks(count_wakeups=True) as started:
        await run_simulation(sim)
    expect_lockstep(sim)
    for k in range(2, PHASES + 1):
        last = max(sim.turns_at[(f"{w.name} phase {k - 1}", "end")] for w in sim.workers)
        first = max(sim.turns_at[(f"{w.name} phase {k}", "start")] for w in sim.workers)
        if first - last <= TURNS:
            continue
        woken = max((w.woken for w in started.wakeups.values()), default=0)
        if woken > MOST_WAKEUPS:
            why = (
                f"a worker task was woken {woken:,} times: it polls, checking again and again "
                "whether the others are done, with a sleep in between, and sees it only at its "
                "next check."
            )
        else:
            why = (
                "they were not woken by the last worker's arrival, but by something else, "
                f"later (the tasks were woken no more than {woken} times in all)."
            )
        fail(
            f"{CALL}, with phases that take no time: the last worker finished phase {k - 1}, "
            f"and the last worker to start phase {k} started {first - last:,} turns of the "
            f"event loop later, where a barrier lets them all go within {TURNS}: {why}\n"
            "Expected: the next phase starts the moment the last worker arrives, however long "
            "the phases take.\n"
            f"Try: {ONE_BARRIER} The barrier wakes every waiting worker when the last one "
            f"arrives.\n\n{timeline.draw()}"
        )


async def test_the_workers_of_a_phase_run_together_so_it_takes_the_slowest_of_each_phase(
    timeline: Timeline,
) -> None:
    sim = Simulation(timeline)
    began = timeline.now()
    await run_simulation(sim)
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
        gaps = [
            (min(s.start for s in sim.phase(k)) - max(s.end or 0.0 for s in sim.phase(k - 1)), k)
            for k in range(2, PHASES + 1)
        ]
        gap, k = max(gaps)
        verdict = (
            f"longer than needed: phase {k} began {gap:.2f} s after the last worker had "
            f"finished phase {k - 1}, so the workers that were ready waited that long for "
            "nothing."
        )
    parts = " + ".join(f"{t:.3f}" for t in slowest)
    fail(
        f"{CALL} took {took:.2f} s, {verdict}\nExpected: the slowest worker of each phase, "
        f"added up: {parts} = {ideal:.3f} s as measured (at most "
        f"{ideal + scaled(MARGIN):.2f} s).\nTry: {ONE_BARRIER} The barrier opens the moment "
        f"the last worker arrives, so each phase starts right then.\n\n{timeline.draw()}"
    )


async def test_a_cancelled_simulation_leaves_no_worker_running(timeline: Timeline) -> None:
    await run_simulation(
        Simulation(timeline, NO_DELAYS)
    )  # a simulation that works first (not the stub)
    await cancel_midway(
        barrier.simulate(list(Simulation(timeline).workers), PHASES),
        after=0.3,  # in phase 2
        what=CALL,
        timeline=timeline,
    )


async def test_a_failing_worker_stops_the_others_and_leaves_none_waiting_at_the_barrier(
    timeline: Timeline,
) -> None:
    sim = Simulation(timeline, CRASH_DELAYS, crashing=CRASHING)
    call = f"{CALL}, where {CRASHING} raises {sim.crash!r} after {scaled(0.1):.2f} s,"
    task_group = (
        "run the workers in `async with asyncio.TaskGroup() as tg:`: a failure cancels the "
        "others, and the group waits for them."
    )
    ran = await left_running_after(
        barrier.simulate(list(sim.workers), PHASES),
        STUCK_AFTER,
        error=sim.crash,
        what=call,
        module=barrier,
        why=f"The barrier waits for {len(sim.workers)} parties, and A will never come: nothing "
        "stops them now.",
        failed="A's error",
        expected="when a worker fails, the others are cancelled, and have stopped, before its "
        "error goes on up.",
        advice=task_group,
        timeline=timeline,
    )
    if ran.raised is sim.crash:
        timeline.expect_none_ran_on(timeline.span(CRASHING), call, task_group)
        return
    if ran.timed_out:
        waited = [w.name for w in sim.workers if w.name != "A" and w.finished >= 2]
        fail(
            f"{call} was still running after {scaled(STUCK_AFTER):.1f} s: "
            f"{listed(waited) or 'the others'} had finished phase 2 and waited at the "
            "barrier for A, which had failed: the barrier would never open, and simulate "
            "waited for them.\n"
            "Expected: A's error goes on up at once, once the other workers are cancelled.\n"
            f"Try: {task_group}\n\n{timeline.draw()}"
        )
    if ran.raised is not None:
        raise ran.raised
    fail(
        f"{call} returned {ran.returned!r}: A's error never reached its caller.\nExpected: "
        "simulate raises it (alone, or in the ExceptionGroup of a TaskGroup).\n\n" + timeline.draw()
    )


@pytest.fixture(autouse=True)
def barriers(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """barrier.py gets a subclass of asyncio.Barrier that notes every Barrier made."""
    BARRIERS.clear()

    class Barrier(ORIGINAL_BARRIER):
        def __init__(self, parties: int) -> None:
            super().__init__(parties)
            BARRIERS.append(self)

    swap_in(monkeypatch, barrier, asyncio, Barrier=Barrier)
    return BARRIERS


class BadPhase(Exception):
    """run_phase() was called with a phase number the simulation does not have."""


class WorkerCrashed(Exception):
    """The phase the test makes fail raises this."""


class FakeWorker:
    """A worker on the timeline: each phase is recorded as "<name> phase <k>"."""

    def __init__(self, sim: Simulation, name: str, delays: tuple[float, ...]) -> None:
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
        self.sim.turns_at[(label, "start")] = self.sim.turn
        error = self.sim.crash if label == self.sim.crashing else None
        delay = self.delays[phase - 1]
        report = str(await self.sim.timeline.work(label, delay, label, error=error))
        self.sim.turns_at[(label, "end")] = self.sim.turn
        self.finished += 1
        return report


class Simulation:
    """The fake workers A, B and C, and what to say when simulate() never returns."""

    def __init__(
        self,
        timeline: Timeline,
        delays: dict[str, tuple[float, ...]] = DELAYS,
        crashing: str = "",
    ) -> None:
        self.timeline = timeline
        self.crashing = crashing  # the phase ("A phase 2") that raises `crash`, if any
        self.crash = WorkerCrashed(f"{crashing} crashed")
        self.workers = [FakeWorker(self, name, d) for name, d in delays.items()]
        self.mistake = ""
        self.barriers = BARRIERS  # every asyncio.Barrier made while the test ran
        self.turn = 0  # turns of the event loop since simulate() began (see count_turns)
        self.counting = False
        self.turns_at: dict[tuple[str, str], int] = {}  # (phase label, start/end) -> turn

    def count_turns(self) -> None:
        """Count the turns of the event loop, one callback per turn, while simulate() runs."""
        if self.counting:
            self.turn += 1
            asyncio.get_running_loop().call_soon(self.count_turns)

    def barrier_text(self) -> str:
        """What the run shows of the barriers made: '' if exactly one of len(workers) parties."""
        parties = [b.parties for b in self.barriers]
        if not parties:
            return ""
        if len(parties) > 1:
            return (
                f"{len(parties)} Barriers were made ({', '.join(map(str, parties))} parties): "
                "one per worker (or per phase) instead of one shared by all, so a worker "
                "waits at a barrier the others never reach."
            )
        if parties[0] != len(self.workers):
            return (
                f"the Barrier has {parties[0]} parties for {len(self.workers)} workers: it "
                f"opens when {parties[0]} tasks wait at it, "
                + (
                    "so it waits for a party that never comes."
                    if parties[0] > len(self.workers)
                    else "so it opens before everyone is there."
                )
            )
        return ""

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
            seen = self.barrier_text()
            why = (
                f"every worker finished phase {k}, then waited forever: the barrier never "
                "opened.\n"
                + (
                    f"Likely mistake: {seen}\n"
                    if seen
                    else "Whatever they wait at never let them through.\n"
                )
                + f"Try: {ONE_BARRIER}"
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


async def run_simulation(sim: Simulation) -> list[list[str]]:
    """simulate(workers, 3), failing the test with an explanation if it misuses or hangs."""
    reports: list[list[str]] = []
    stuck = False
    sim.counting = True
    asyncio.get_running_loop().call_soon(sim.count_turns)
    try:
        async with asyncio.timeout(scaled(STUCK_AFTER)):
            reports = await barrier.simulate(list(sim.workers), PHASES)
    except TimeoutError:
        stuck = True
    except Exception:
        if not sim.mistake:
            raise
    finally:
        sim.counting = False
    # Failing outside `except` shows the explanation alone, not the exception it replaces.
    if stuck:
        fail(sim.stuck())
    if sim.mistake:
        fail(f"{sim.mistake}\n\n{sim.timeline.draw()}")
    return reports


def expect_lockstep(sim: Simulation) -> None:
    """Probe: every call of phase k started after every call of phase k - 1 had ended."""
    __tracebackhide__ = True
    drawn = sim.timeline.drawn
    for k in range(2, PHASES + 1):
        previous = sim.phase(k - 1)
        last = max(previous, key=lambda s: s.end or sim.timeline.now())
        last_end = last.end or sim.timeline.now()
        early = [s for s in sim.phase(k) if s.start < last_end]
        if not early:
            continue
        first = min(early, key=lambda s: s.start)
        seen = sim.barrier_text()
        if k > 2:
            mistake = (
                f"phase 2 waited for everyone, yet phase {k} did not: whatever the workers wait "
                "at worked once and then stayed open. Likely mistake: a gate that does not "
                "reset, such as an Event set by the last arrival (it stays set) or a counter "
                "never set back to 0. asyncio.Barrier closes again by itself after each opening."
            )
        elif seen:
            mistake = f"{first.label.split()[0]} did not wait for the others: {seen}"
        else:
            mistake = (
                f"{first.label.split()[0]} did not wait for the others: no asyncio.Barrier was "
                "made, and nothing else held it back at the end of its phase."
            )
        fail(
            f"{CALL}: {first.label} started at {drawn(first.start):.2f} s, while {last.label} "
            f"was still running (until {drawn(last_end):.2f} s): {mistake}\nExpected: no "
            f"worker starts phase {k} before every worker has finished phase {k - 1}.\n"
            f"Try: {ONE_BARRIER}\n\n" + sim.timeline.draw()
        )

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any

import pytest
import racing
from harness import EARLY, Timeline, cancel_midway, fail, raised, scaled, settle, swap_in, were

# Every race here is decided within 0.2 s: an answer that never gives the loop back fails in 2 s.
pytestmark = pytest.mark.timeout(2)

# The fastest mirror is not the first in the list: answering "by position" is caught.
MIRRORS = {"mirror eu": 0.3, "mirror us": 0.1, "mirror asia": 0.2}
FASTEST = "mirror us"
LOSERS = ["mirror eu", "mirror asia"]
RACE = "first_answer([eu 0.3 s, us 0.1 s, asia 0.2 s])"
FIRST_COMPLETED = (
    "create a task per mirror, then done, pending = await asyncio.wait(tasks, "
    "return_when=asyncio.FIRST_COMPLETED)"
)
CANCEL_AND_AWAIT = (
    "call .cancel() on every task that did not win, then "
    "`await asyncio.gather(*losers, return_exceptions=True)`, which returns once they have "
    "really stopped"
)

# hedged() scenarios: (primary's delay, backup's delay, hedge_after), in seconds.
FAST_PRIMARY = (0.1, 0.2, 0.3)  # answers within hedge_after: no backup
SLOW_PRIMARY = (0.5, 0.1, 0.1)  # silent at hedge_after: the backup answers first
LATE_PRIMARY = (0.2, 0.3, 0.1)  # silent at hedge_after, yet answers before the backup
WAIT_WITH_A_LIMIT = (
    "wait for the primary's task alone with a time limit that does not cancel it: "
    "done, _ = await asyncio.wait({primary_task}, timeout=hedge_after); "
    "only if `done` is empty, start the backup and race the two with "
    "return_when=asyncio.FIRST_COMPLETED."
)


async def test_the_fastest_mirrors_answer_wins(timeline: Timeline, waits: WaitSpy) -> None:
    answer = await racing.first_answer(mirrors(timeline))
    expected = answer_of(FASTEST)
    if answer == expected:
        expect_stopped(timeline, LOSERS, RACE, "returned", waits)  # no await since it returned
        return
    if sorted(timeline.finished) == sorted(MIRRORS):
        mistake = (
            "Every mirror answered before it returned: it waited for all of them (asyncio.gather "
            "does) and then picked an answer by its place in the list, not by time."
        )
    elif timeline.started == ["mirror eu"]:
        mistake = (
            "It asked only mirror eu, the first in the list, waited for its answer and returned "
            "it: the mirrors were tried one after another, so the faster ones further down the "
            "list never got their chance."
        )
    else:
        mistake = "Is another mirror's answer returned, or a task instead of its result?"
    fail(
        f"{RACE} returned {answer!r}, expected {expected!r}: the answer of the mirror that "
        f"answered first (us, 0.1 s), whatever its place in the list.\n{mistake}\n"
        f"Try: {FIRST_COMPLETED}; the winner is in `done`.\n\n{timeline.draw()}"
    )


async def test_every_mirror_is_asked_at_once(timeline: Timeline) -> None:
    await racing.first_answer(mirrors(timeline))
    expect_each_asked_once(timeline, RACE)
    missing = [label for label in MIRRORS if label not in timeline.started]
    if missing:
        fail(
            f"{RACE} never asked {' and '.join(missing)} (it asked {timeline.started}).\n"
            "Expected: every mirror asked at the same time, so the fastest one can win.\n"
            "Likely mistake: asking the mirrors one after another and returning the first "
            "answer, so the mirrors further down the list never get their chance (and a slow "
            f"first mirror makes you wait).\nTry: {FIRST_COMPLETED}.\n\n{timeline.draw()}"
        )
    timeline.expect_all_started_before_any_finished("the mirrors of the race")


async def test_the_answer_arrives_in_about_the_fastest_delay(timeline: Timeline) -> None:
    with timeline.expect_duration(
        min(MIRRORS.values()),
        what=RACE,
        advice="return as soon as the FIRST mirror has answered: asyncio.wait(tasks, "
        "return_when=asyncio.FIRST_COMPLETED). Waiting for every mirror (asyncio.gather) "
        "waits for the slowest one; asking them in turn adds up their delays.",
    ):
        await racing.first_answer(mirrors(timeline))


async def test_the_losers_are_cancelled_and_finished_before_it_returns(
    timeline: Timeline, waits: WaitSpy
) -> None:
    await racing.first_answer(mirrors(timeline))
    expect_stopped(timeline, LOSERS, RACE, "returned", waits)  # no await in between


async def test_an_error_of_the_first_finisher_is_raised_after_stopping_the_others(
    timeline: Timeline,
) -> None:
    call = "first_answer([eu 0.3 s, us fails at 0.1 s, asia 0.2 s])"
    try:
        answer = await racing.first_answer(mirrors(timeline, failing=FASTEST))
    except MirrorDown:
        pass
    except ExceptionGroup as group:  # a TaskGroup wraps the error: that is fine too
        if group.subgroup(MirrorDown) is None:
            raise
    else:
        fail(
            f"{call} returned {answer!r}, expected it to raise MirrorDown('mirror us is down'): "
            "the first mirror to finish failed, and in this kata a failure counts as the first "
            "answer.\nLikely mistake: skipping the failed mirror and waiting for the next one.\n"
            "Try: return done.pop().result(): it returns the winner's answer, or raises its "
            f"error.\n\n{timeline.draw()}"
        )
    expect_stopped(timeline, LOSERS, call, "raised MirrorDown")


async def test_a_race_cancelled_halfway_stops_every_mirror(timeline: Timeline) -> None:
    await cancel_midway(
        racing.first_answer(mirrors(timeline)),
        after=0.05,  # every mirror still on its way
        what=RACE,
        timeline=timeline,
    )


async def test_a_race_of_no_mirrors_raises_value_error_at_once() -> None:
    call = "first_answer([])"
    race = asyncio.create_task(racing.first_answer([]))
    await settle([race], within=1.0)
    if not race.done():
        race.cancel()
        await asyncio.wait({race})
        fail(
            f"{call} was still waiting {scaled(1.0):.1f} s later: with no mirror to ask, no "
            "answer will ever come.\nExpected: ValueError, at once: there is no first answer.\n"
            "Try: check `if not mirrors:` first and raise ValueError (asyncio.wait raises it "
            "by itself for an empty set of tasks)."
        )
    if raised(race, ValueError):
        return
    answer = race.result()  # its own error, if it raised another one
    ended = (
        "it reached its end with no answer to return (a loop over the tasks, "
        "asyncio.as_completed's included, never runs when there are none)"
        if answer is None
        else "with no mirror to ask, there is no answer to give"
    )
    fail(
        f"{call} returned {answer!r}: {ended}, and the caller, who expects a str, gets "
        f"{answer!r}.\nExpected: ValueError, at once: there is no first answer.\n"
        "Try: check `if not mirrors:` first and raise ValueError (asyncio.wait raises it by "
        "itself for an empty set of tasks)."
    )


async def test_two_mirrors_answering_in_the_same_step_give_one_of_their_answers(
    timeline: Timeline, waits: WaitSpy
) -> None:
    tied = together(timeline, ["mirror eu", "mirror us"], at=0.1)
    call = "first_answer([eu 0.1 s, us 0.1 s, asia 0.3 s]), eu and us answering together"
    race = racing.first_answer([*tied, request(timeline, "mirror asia", 0.3)])
    await one_of_a_tie(race, call, ["mirror eu", "mirror us"], timeline, waits)
    expect_stopped(timeline, ["mirror asia"], call, "returned", waits)  # no await in between


async def hedge(timeline: Timeline, scenario: tuple[float, float, float]) -> tuple[str, float]:
    """hedged(primary, backup, hedge_after) in `scenario`: its answer and when it was called."""
    primary, backup, hedge_after = scenario
    called_at = timeline.now()
    answer = await racing.hedged(
        request(timeline, "primary", primary),
        request(timeline, "backup", backup),
        scaled(hedge_after),
    )
    expect_each_asked_once(timeline, hedge_call(scenario))
    return answer, called_at


def hedge_call(scenario: tuple[float, float, float]) -> str:
    primary, backup, hedge_after = scenario
    return f"hedged(primary {primary} s, backup {backup} s, hedge_after={hedge_after})"


async def test_a_fast_primary_answers_and_the_backup_is_never_called(timeline: Timeline) -> None:
    answer, called_at = await hedge(timeline, FAST_PRIMARY)
    call, hedge_after = hedge_call(FAST_PRIMARY), scaled(FAST_PRIMARY[2])
    primary = timeline.span("primary")
    backup = next((s for s in timeline.spans if s.label == "backup"), None)
    if backup is not None:
        answered = f"{primary.end - called_at:.2f} s" if primary.end is not None else "once"
        fail(
            f"{call} called the backup at {backup.start - called_at:.2f} s, although the "
            f"primary answered at {answered}, within hedge_after ({hedge_after:.2f} s). "
            "Each hedge costs an extra request: fire the backup only when the primary is "
            "late.\nExpected: the backup never called when the primary answers within "
            f"hedge_after.\nTry: {WAIT_WITH_A_LIMIT}\n\n{timeline.draw()}"
        )
    assert answer == answer_of("primary"), (
        f"{call} returned {answer!r}, expected the primary's answer {answer_of('primary')!r}."
    )


async def test_a_fast_primary_answers_without_waiting_out_hedge_after(timeline: Timeline) -> None:
    with timeline.expect_duration(
        FAST_PRIMARY[0],
        what=hedge_call(FAST_PRIMARY),
        advice="return the moment the primary answers. asyncio.wait({primary_task}, "
        "timeout=hedge_after) returns as soon as the task is done, while "
        "asyncio.sleep(hedge_after) always waits the whole hedge_after.",
    ):
        await hedge(timeline, FAST_PRIMARY)


async def test_a_slow_primary_gets_a_backup_only_once_hedge_after_is_up(
    timeline: Timeline,
) -> None:
    answer, called_at = await hedge(timeline, SLOW_PRIMARY)
    call, hedge_after = hedge_call(SLOW_PRIMARY), scaled(SLOW_PRIMARY[2])
    backup = next((s for s in timeline.spans if s.label == "backup"), None)
    if backup is None:
        fail(
            f"{call} never called the backup, although the primary was still silent after "
            f"hedge_after ({hedge_after:.2f} s).\nExpected: the backup fired at about "
            f"{hedge_after:.2f} s, and its answer returned.\nTry: {WAIT_WITH_A_LIMIT}\n\n"
            f"{timeline.draw()}"
        )
    fired = backup.start - called_at
    if fired < EARLY * hedge_after:
        fail(
            f"{call} called the backup at {fired:.2f} s, before hedge_after ({hedge_after:.2f} "
            "s) was up: it did not give the primary its chance first, so every request costs "
            f"two.\nExpected: the backup fired at about {hedge_after:.2f} s, and only because "
            f"the primary was still silent then.\nTry: {WAIT_WITH_A_LIMIT}\n\n{timeline.draw()}"
        )
    assert answer == answer_of("backup"), (
        f"{call} returned {answer!r}, expected the backup's answer {answer_of('backup')!r}: "
        "the backup answered first (the primary takes 0.5 s).\n\n" + timeline.draw()
    )
    expect_stopped(timeline, ["primary"], call, "returned")


async def test_a_slow_primary_is_beaten_in_about_hedge_after_plus_the_backups_delay(
    timeline: Timeline,
) -> None:
    _, backup, hedge_after = SLOW_PRIMARY
    with timeline.expect_duration(
        hedge_after + backup,
        what=hedge_call(SLOW_PRIMARY),
        advice="fire the backup once hedge_after is up and return the FIRST of the two "
        "answers (asyncio.wait(..., return_when=asyncio.FIRST_COMPLETED)): hedge_after + the "
        "backup's 0.1 s = 0.2 s. Do not wait for the slow primary as well.",
        too_early="give the primary hedge_after on its own first. A backup fired at once wins "
        "sooner here, but then every request costs two.",
    ):
        await hedge(timeline, SLOW_PRIMARY)


async def test_a_late_primary_keeps_running_and_beats_a_slower_backup(timeline: Timeline) -> None:
    answer, called_at = await hedge(timeline, LATE_PRIMARY)
    call, hedge_after = hedge_call(LATE_PRIMARY), scaled(LATE_PRIMARY[2])
    primary = timeline.span("primary")
    if primary.cancelled:
        stopped = f"{primary.end - called_at:.2f} s" if primary.end is not None else "once"
        fail(
            f"{call} cancelled the primary at {stopped}, when hedge_after ({hedge_after:.2f} s) "
            "was up: a hedge is a second chance, not a replacement. Left running, the primary "
            f"would have answered at {scaled(LATE_PRIMARY[0]):.2f} s, before the backup "
            f"({scaled(LATE_PRIMARY[2] + LATE_PRIMARY[1]):.2f} s).\n"
            "Likely mistake: asyncio.timeout() or asyncio.wait_for() around the primary, which "
            "cancel it when the time is up.\nExpected: the primary still running beside the "
            f"backup, and its answer returned.\nTry: {WAIT_WITH_A_LIMIT}\n\n{timeline.draw()}"
        )
    timeline.expect_overlap("primary", "backup", "once the backup was fired")
    assert answer == answer_of("primary"), (
        f"{call} returned {answer!r}, expected the primary's answer {answer_of('primary')!r}: "
        "it answered first (at 0.2 s; the backup needs until 0.4 s).\n\n" + timeline.draw()
    )
    expect_stopped(timeline, ["backup"], call, "returned")


async def test_a_hedge_cancelled_halfway_stops_the_primary_and_the_backup(
    timeline: Timeline,
) -> None:
    scenario = (0.5, 0.3, 0.1)  # no way of hedging answers before 0.3 s
    primary, backup, hedge_after = scenario
    await cancel_midway(
        racing.hedged(
            request(timeline, "primary", primary),
            request(timeline, "backup", backup),
            scaled(hedge_after),
        ),
        after=0.15,  # the backup was fired at 0.1 s; neither has answered yet
        what=hedge_call(scenario),
        timeline=timeline,
    )


async def test_a_primary_failing_after_the_hedge_is_raised_and_the_backup_stopped(
    timeline: Timeline,
) -> None:
    call = "hedged(primary fails at 0.15 s, backup 0.2 s, hedge_after=0.1)"
    wrapped: ExceptionGroup[Exception] | None = None
    try:
        answer = await racing.hedged(
            request(timeline, "primary", 0.15, MirrorDown("primary is down")),
            request(timeline, "backup", 0.2),
            scaled(0.1),
        )
    except MirrorDown:
        pass
    except ExceptionGroup as group:  # a TaskGroup wraps the error: that is fine too
        wrapped = group
    else:
        fail(
            f"{call} returned {answer!r}, expected it to raise MirrorDown('primary is down'): "
            "the primary finished first, with an error, and in this kata a failure counts as "
            "the first answer.\n"
            "Try: take the result of the first task to finish, whatever it is: "
            f"done.pop().result() returns its answer or raises its error.\n\n{timeline.draw()}"
        )
    if wrapped is not None and wrapped.subgroup(MirrorDown) is None:
        fail(f"{call} raised {wrapped!r}, expected MirrorDown('primary is down').")
    expect_stopped(timeline, ["backup"], call, "raised MirrorDown")


async def test_a_primary_failing_before_hedge_after_is_raised_at_once_without_a_backup(
    timeline: Timeline,
) -> None:
    call = "hedged(primary fails at 0.1 s, backup 0.1 s, hedge_after=0.3)"
    hedge_after = scaled(0.3)
    called_at = timeline.now()
    try:
        answer = await racing.hedged(
            request(timeline, "primary", 0.1, MirrorDown("primary is down")),
            request(timeline, "backup", 0.1),
            hedge_after,
        )
    except MirrorDown:
        pass
    except ExceptionGroup as group:  # a TaskGroup wraps the error: that is fine too
        if group.subgroup(MirrorDown) is None:
            raise
    else:
        fired = next((s for s in timeline.spans if s.label == "backup"), None)
        asked = (
            f"it called the backup at {fired.start - called_at:.2f} s, after the primary had "
            "failed, and returned its answer: the failure was treated as a reason to ask "
            "again."
            if fired is not None
            else "the error was lost."
        )
        fail(
            f"{call} returned {answer!r}, expected it to raise MirrorDown('primary is down'): "
            f"{asked} A failure counts as the first answer, and the backup is a hedge against "
            "a primary that is slow, not one that fails.\nExpected: the primary's error raised "
            "at once, and the backup never called.\n"
            f"Try: {WAIT_WITH_A_LIMIT} A failed primary is in `done`: take its result.\n\n"
            + timeline.draw()
        )
    took = timeline.now() - called_at
    backup = next((s for s in timeline.spans if s.label == "backup"), None)
    if backup is not None or took >= EARLY * hedge_after:
        seen = (
            f"it called the backup at {backup.start - called_at:.2f} s"
            if backup is not None
            else f"it raised only after {took:.2f} s, when hedge_after was up"
        )
        fail(
            f"{call} raised MirrorDown, but {seen}, although the primary had failed at "
            f"{timeline.drawn(timeline.span('primary').end or 0.0):.2f} s, within hedge_after "
            f"({hedge_after:.2f} s).\nExpected: the error raised at once, and the backup "
            f"never called.\nTry: {WAIT_WITH_A_LIMIT}\n\n{timeline.draw()}"
        )


async def test_a_primary_and_backup_answering_in_the_same_step_give_one_of_their_answers(
    timeline: Timeline, waits: WaitSpy
) -> None:
    primary, backup = together(timeline, ["primary", "backup"], at=0.2)
    call = "hedged(primary and backup both answering at 0.2 s, hedge_after=0.1)"
    race = racing.hedged(primary, backup, scaled(0.1))
    await one_of_a_tie(race, call, ["primary", "backup"], timeline, waits)


class MirrorDown(Exception):
    """A server that failed instead of answering."""


def answer_of(label: str) -> str:
    return f"{label}: 42"


def request(
    timeline: Timeline, label: str, delay: float, error: Exception | None = None
) -> racing.Request:
    """A fake server on the timeline: answers "<label>: 42" after `delay` (or raises `error`)."""

    async def ask() -> str:
        return str(await timeline.work(label, delay, answer_of(label), error=error))

    return ask


def together(timeline: Timeline, labels: list[str], at: float) -> list[racing.Request]:
    """Fake servers that all answer in the same step of the event loop, `at` seconds (scaled)
    after this call: each waits on one event, set by a timer (a tie, forced)."""
    arrived = asyncio.Event()
    asyncio.get_running_loop().call_later(scaled(at), arrived.set)

    def server(label: str) -> racing.Request:
        async def ask() -> str:
            with timeline.record(label):
                await arrived.wait()
            return answer_of(label)

        return ask

    return [server(label) for label in labels]


async def one_of_a_tie(
    race: Awaitable[str], call: str, tied: list[str], timeline: Timeline, waits: WaitSpy
) -> str:
    """The answer of `race`, where the requests `tied` answer in the same step: any of theirs."""
    __tracebackhide__ = True
    try:
        answer = await race
    except ValueError as caught:
        error = caught
    else:
        if answer in [answer_of(label) for label in tied]:
            return answer
        fail(
            f"{call} returned {answer!r}, expected the answer of {' or '.join(tied)}: they "
            f"answered first, together.\n\n{timeline.draw()}"
        )
    seen = (
        "so both tasks were done when asyncio.wait returned: `done` held two tasks, not one."
        if waits.first_completed
        else "so both tasks were done at once."
    )
    unpacked = "; do not unpack `done` as if it held exactly one" if "unpack" in str(error) else ""
    fail(
        f"{call} raised {error!r}. {' and '.join(tied).capitalize()} answered in the same step of "
        f"the event loop, {seen}\nExpected: the answer of either (both came first).\n"
        "Try: done.pop().result() takes one task out of `done`, however many it holds"
        f"{unpacked}.\n\n{timeline.draw()}"
    )


class WaitSpy:
    """racing.py's asyncio.wait, counting its calls with return_when=FIRST_COMPLETED."""

    def __init__(self) -> None:
        self.first_completed = 0

    def wait(self, tasks: Iterable[Any], **options: Any) -> Awaitable[Any]:
        if options.get("return_when") == asyncio.FIRST_COMPLETED:
            self.first_completed += 1
        return asyncio.wait(tasks, **options)


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> WaitSpy:
    spy = WaitSpy()
    swap_in(monkeypatch, racing, asyncio, wait=spy.wait)
    return spy


def mirrors(timeline: Timeline, failing: str = "") -> list[racing.Request]:
    return [
        request(
            timeline, label, delay, MirrorDown(f"{label} is down") if label == failing else None
        )
        for label, delay in MIRRORS.items()
    ]


def expect_stopped(
    timeline: Timeline, labels: list[str], call: str, when: str, waits: WaitSpy | None = None
) -> None:
    """Probe, right after `call` returned or raised: every one of `labels` was cancelled and ended.

    Run it before any other await, or the event loop gets a chance to finish what `call` left.
    """
    __tracebackhide__ = True
    spans = [timeline.span(label) for label in labels]
    answered = [s.label for s in spans if s.end is not None and not s.cancelled]
    running = [s for s in spans if s.end is None]
    asked_to_stop = [s.label for s in running if s.task is not None and s.task.cancelling()]
    ignored = [s.label for s in running if s.label not in asked_to_stop]
    if answered:
        mistake = (
            f"{' and '.join(answered)} answered before {call} {when}: it waited for the slower "
            "ones instead of stopping them, so the race lasted as long as its slowest runner "
            "(asyncio.gather waits for every task)."
        )
        advice = (
            "asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED) returns at the first "
            f"answer; then {CANCEL_AND_AWAIT}."
        )
    elif ignored:
        mistake = (
            f"{call} {when} while {' and '.join(ignored)} {were(ignored)} still running, never "
            "cancelled: a task you no longer need keeps running (and keeps its server busy) "
            "until you cancel it."
        )
        if when.startswith("raised"):
            mistake += (
                "\nLikely mistake: no clean-up on the error path. done.pop().result() (or "
                "asyncio.gather) raises the winner's error, and the lines after it that would "
                "cancel the losers never run."
            )
        elif waits is not None and waits.first_completed:
            mistake += (
                "\nasyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED) returned at the "
                "first answer, as it should, and it cancels nothing: the losers are still in "
                "`pending`, running."
            )
        advice = (
            f"{CANCEL_AND_AWAIT}. Do it in a `finally:` block, so it runs after an answer and "
            "after an error alike."
        )
    elif asked_to_stop:
        mistake = (
            f"{call} {when} while {' and '.join(asked_to_stop)} had been cancelled but had not "
            "stopped yet: task.cancel() only asks a task to stop. The task stops later, at its "
            f"next await, and by then {call} had already {when}."
        )
        advice = (
            "after the .cancel() calls, await the losers: `await asyncio.gather(*losers, "
            "return_exceptions=True)` returns once they have really stopped (a TaskGroup waits "
            "for them for you)."
        )
    else:
        return
    fail(
        f"{mistake}\nExpected: every loser cancelled AND finished by the time {call} {when}, "
        f"so nothing it started is still running.\nTry: {advice}\n\n{timeline.draw()}"
    )


def expect_each_asked_once(timeline: Timeline, call: str) -> None:
    """Probe: no server was asked twice (each request is called at most once)."""
    __tracebackhide__ = True
    again = sorted({label for label in timeline.started if timeline.started.count(label) > 1})
    if again:
        fail(
            f"{call} asked {' and '.join(again)} more than once: each request costs a call to "
            "a server, and a second one starts all over again.\n"
            "Expected: every request called at most once; a slow one is left running, not "
            f"asked again.\n\n{timeline.draw()}"
        )

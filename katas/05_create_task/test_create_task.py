from __future__ import annotations

import asyncio
from collections import Counter

import create_task
import pytest
from harness import Span, Timeline, fail, task_origins

COFFEE, TOAST = 0.3, 0.2  # seconds: the coffee takes longer, so it brews in the background
CHORES = ("brew coffee", "make toast")  # as the timeline draws them
CALL = "make_breakfast(brew_coffee, make_toast)"


async def test_breakfast_is_the_toast_and_the_coffee(kitchen: Kitchen) -> None:
    breakfast = await kitchen.make_breakfast()
    if breakfast == ["toast", "coffee"]:
        return
    shown = [
        f"<Task {x.get_name()!r}>" if isinstance(x, asyncio.Task) else repr(x) for x in breakfast
    ]
    mistake = (
        "\nThe <Task ...> in it is the coffee task itself, not the coffee it makes: awaiting the "
        "task gives you its result.\nTry: return [toast, await coffee]"
        if any(isinstance(x, asyncio.Task) for x in breakfast)
        else ""
    )
    fail(
        f"{CALL} returned [{', '.join(shown)}], expected ['toast', 'coffee'] (the toast first, "
        f"then the coffee).{mistake}"
    )


async def test_the_coffee_brews_in_a_task_of_its_own(kitchen: Kitchen) -> None:
    await kitchen.make_breakfast()
    if kitchen.coffee_brewed_in is None:
        fail(
            f"{CALL} never ran brew_coffee().\nExpected: the coffee brewing in a task of its "
            "own.\nTry: coffee = asyncio.create_task(brew_coffee())"
        )
    if kitchen.coffee_brewed_in is asyncio.current_task():
        fail(
            f"{CALL} brewed the coffee itself instead of in a background task: it awaited "
            "brew_coffee() directly, so it could do nothing else until the coffee was ready.\n"
            "Expected: brew_coffee() running in a task of its own while make_breakfast makes "
            "the toast.\nTry: coffee = asyncio.create_task(brew_coffee()), then make the toast, "
            "then await coffee.\n\n" + kitchen.timeline.draw()
        )


async def test_the_toast_is_made_by_make_breakfast_itself(kitchen: Kitchen) -> None:
    with task_origins() as origins:
        await kitchen.make_breakfast()
    made_in = kitchen.toast_made_in
    if made_in is None:
        fail(f"{CALL} never ran make_toast().\nTry: toast = await make_toast()")
    if made_in is asyncio.current_task():
        return
    started_by = origins.get(made_in, "an unknown call")
    if started_by == "asyncio.gather":
        mistake = (
            "it handed both chores to asyncio.gather, which runs each coroutine in a task of "
            "its own (kata 04's pattern), and only waited for the two"
        )
    else:
        mistake = "it started a task for the toast too, then only waited for the two tasks"
    fail(
        f"{CALL} made the toast in a task of its own (started by {started_by}), not in "
        f"make_breakfast: {mistake}. Here make_breakfast switches the coffee on, then makes "
        "the toast itself while the coffee brews.\nExpected: brew_coffee() in a background "
        "task, make_toast() awaited by make_breakfast itself.\nTry: coffee = "
        "asyncio.create_task(brew_coffee()), then toast = await make_toast(), then await "
        "coffee.\n\n" + kitchen.timeline.draw()
    )


async def test_the_toast_is_made_while_the_coffee_brews(kitchen: Kitchen) -> None:
    await kitchen.make_breakfast()
    coffee, toast = kitchen.span("brew coffee"), kitchen.span("make toast")
    if coffee is None or toast is None:
        fail(f"{CALL} never {'brewed the coffee' if coffee is None else 'made the toast'}.")
    if kitchen.timeline.peak == 2:
        return  # both were in flight together
    if coffee.end is not None and coffee.end <= toast.start:
        mistake = (
            "the coffee was ready before the toast was started: make_breakfast waited for the "
            "coffee first. Awaiting a task waits until it is done, so awaiting the coffee task "
            "right after creating it (or awaiting brew_coffee() directly) makes breakfast one "
            "chore after the other."
        )
        advice = "make the toast first, and await the coffee task only after that."
    else:
        mistake = (
            "the coffee started only after the toast was done: nothing was brewing while the "
            "toast was made."
        )
        advice = "create the coffee task before you make the toast."
    fail(
        f"{CALL}: {mistake}\nExpected: the coffee brewing and the toast being made at the same "
        f"time.\nTry: {advice}\n\n{kitchen.timeline.draw()}"
    )


async def test_breakfast_takes_as_long_as_the_coffee_not_both(kitchen: Kitchen) -> None:
    with kitchen.timeline.expect_duration(
        COFFEE,
        delays=(COFFEE, TOAST),
        what=f"{CALL} (coffee {COFFEE} s, toast {TOAST} s)",
        advice="start the coffee with asyncio.create_task, make the toast, then await the "
        "coffee task.",
    ):
        await kitchen.make_breakfast()


class Kitchen:
    """The two chores as fake work on the timeline; it notes which task did each chore."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.coffee_brewed_in: asyncio.Task[object] | None = None
        self.toast_made_in: asyncio.Task[object] | None = None

    async def brew_coffee(self) -> str:
        self.coffee_brewed_in = asyncio.current_task()
        return str(await self.timeline.work("brew coffee", COFFEE, "coffee"))

    async def make_toast(self) -> str:
        self.toast_made_in = asyncio.current_task()
        return str(await self.timeline.work("make toast", TOAST, "toast"))

    async def make_breakfast(self) -> list[str]:
        __tracebackhide__ = True
        early: asyncio.InvalidStateError | None = None
        try:
            breakfast = await create_task.make_breakfast(self.brew_coffee, self.make_toast)
        except asyncio.InvalidStateError as error:
            early = error
        else:
            self.expect_each_chore_once()
            return breakfast
        coffee = self.span("brew coffee")  # outside `except`: the explanation shows once
        brewing = coffee is not None and coffee.end is None
        fail(
            f"{CALL} raised InvalidStateError({early}) while the coffee was "
            f"{'still brewing' if brewing else 'not ready'}: task.result() gives the result "
            "only of a task that has finished, and raises while it is still running. It does "
            "not wait.\n"
            "Expected: ['toast', 'coffee'], the coffee collected once it is ready.\n"
            "Try: `await coffee`: awaiting the task waits for what is left of its brewing, "
            "then gives you its result.\n\n" + self.timeline.draw()
        )

    def expect_each_chore_once(self) -> None:
        __tracebackhide__ = True
        counts = Counter(self.timeline.started)
        wrong = [f"{chore} {counts[chore]} times" for chore in CHORES if counts[chore] != 1]
        if wrong:
            fail(
                f"{CALL} did {', '.join(wrong)}, expected each chore once: one pot of coffee, "
                "one toast.\nTry: call brew_coffee() once (inside create_task) and make_toast() "
                "once.\n\n" + self.timeline.draw()
            )

    def span(self, label: str) -> Span | None:
        return next((s for s in self.timeline.spans if s.label == label), None)


@pytest.fixture
def kitchen(timeline: Timeline) -> Kitchen:
    return Kitchen(timeline)

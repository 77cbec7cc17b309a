from __future__ import annotations

import asyncio
import inspect
import json
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from typing import Any, NoReturn

import acked_queue
import nats
import pytest
from harness import Timeline, fail, scaled
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.client import JetStreamContext
from servers import NatsServer

STREAM, SUBJECT, DURABLE = "JOBS", "jobs", "workers"
# Long enough never to run out while a test waits: only the kill test relies on redelivery.
LONG_ACK_WAIT = 30.0
# The kill test's ack_wait: a message killed in process comes back after this long.
SHORT_ACK_WAIT = 0.3
# In the quiet-spell test every fetch() gives up after this long at most (nats-py's default is
# 5 s): an empty queue then makes the consumer meet its TimeoutErrors in a fraction of a second.
QUICK_FETCH = 0.1
# What to try, for the mistakes several tests can point at.
TRY_WORKERS = (
    "Try: start `workers` worker tasks in an asyncio.TaskGroup, each one a loop that fetches "
    "one message, processes it and acks it."
)
# When the consumer acked a message whose process() had not finished.
BEFORE, CANCELLED = "before its process() started", "after its process() had been cancelled"
TRY_ACK_AFTER = (
    "Try: `try: await process(msg.data)` / `except Exception: await msg.nak()` / "
    "`else: await msg.ack_sync()`."
)


async def test_every_message_is_processed_and_then_acked(
    nats_server: NatsServer, timeline: Timeline
) -> None:
    jobs = [f"m{i}" for i in range(1, 7)]
    async with broker(nats_server, timeline, jobs) as side:
        work = Work(side)
        ours = nats_tasks()
        async with consuming(side, work, workers=2) as consumer:
            await consumer.until(lambda: side.all_acked() and not work.lost(), within=1.0)
        await asyncio.sleep(0)  # let the cancelled tasks of a closed connection finish
        left = nats_tasks() - ours
    if not work.lost() and side.all_acked() and max(work.calls.values()) == 1:
        if side.unconfirmed:
            fail(
                f"{consumer.call} on 6 messages: each was processed once, then acked; but the "
                f"acks of {names(side.unconfirmed)} reached the server as plain messages, "
                "without a reply subject: the consumer went on without waiting for the server "
                "to confirm them. An ack still in the client's buffer when the consumer dies "
                "(a kill, a crash, a lost connection) never arrives, and the message is done "
                "twice.\n"
                "Likely mistake: `await msg.ack()`, which queues the ack in the client and "
                "returns at once.\n"
                "Try: `await msg.ack_sync()`: it returns once the server has the ack.\n\n"
                + timeline.draw()
            )
        if left:
            fail(
                f"{consumer.call} on 6 messages: each was processed once, then acked; but "
                + left_open(left)
            )
        return
    unacked = [job for job in jobs if job not in side.acked]
    never_acked = [job for job in unacked if job in work.completed]
    asked = max(side.batches, default=1)
    fail(
        f"{consumer.call} on 6 messages: processed {names(work.completed)}; the server received "
        + (f"an ack for {names(side.acked)}" if side.acked else "no ack at all")
        + (f" and none for {names(unacked)}" if unacked and side.acked else "")
        + (
            f"; processed more than once: {names([j for j, n in work.calls.items() if n > 1])}"
            if max(work.calls.values(), default=0) > 1
            else ""
        )
        + ".\nExpected: each message processed once, then acked.\n"
        + (
            "Likely mistake: the messages are never acked, so the server keeps them as pending "
            "and delivers them again when their ack_wait runs out (processed twice).\n"
            "Try: `await msg.ack_sync()` once `await process(msg.data)` has returned.\n\n"
            if never_acked
            else f"{names(unacked)} were not even processed within {scaled(1.0):.1f} s, and "
            f"the consumer asked the server for up to {asked} messages per pull request: the "
            "messages one pull hands to a worker wait for that worker, however long it takes "
            "to get to them, while another worker may be free.\n"
            "Try: each worker fetches one message at a time, `fetch(1)`, processes it, acks "
            "it, and only then fetches the next.\n\n"
            if unacked and asked > 1
            else "Try: fetch each message once, process it once, then ack it.\n\n"
        )
        + timeline.draw()
    )


async def test_k_messages_are_processed_at_once_not_one_at_a_time(
    nats_server: NatsServer, timeline: Timeline
) -> None:
    async with broker(nats_server, timeline, [f"m{i}" for i in range(1, 7)]) as side:
        work = Work(side, delay=0.1)
        async with consuming(side, work, workers=3) as consumer:
            await consumer.until(side.all_acked, within=2.0)
    if timeline.peak >= 3:
        return
    asked = max(side.batches, default=1)
    fail(
        f"{consumer.call} on 6 messages of 0.1 s: at most {timeline.peak} process() call(s) "
        "were in flight at a time, although 3 workers were asked for"
        + (
            f": the consumer asked the server for up to {asked} messages per pull request, so "
            "the first worker to pull took several, and the others had none left to work on.\n"
            "Try: each worker fetches one message at a time, `fetch(1)`.\n"
            if asked > 1
            else ": the messages were processed one at a time.\n"
            "Likely mistake: one loop that fetches, processes and acks each message in turn, "
            "whatever `workers` says.\n"
            if timeline.peak <= 1
            else ".\n"
        )
        + f"Expected: 3 messages in process together.\n{TRY_WORKERS}\n\n{timeline.draw()}"
    )


async def test_never_more_than_k_messages_are_processed_at_once(
    nats_server: NatsServer, timeline: Timeline
) -> None:
    async with broker(nats_server, timeline, [f"m{i}" for i in range(1, 9)]) as side:
        work = Work(side, delay=0.1)
        async with consuming(side, work, workers=2) as consumer:
            await consumer.until(side.all_acked, within=2.0)
    if 0 < timeline.peak <= 2:
        return
    if timeline.peak == 0:
        fail(f"{consumer.call} never called process(): call it once per message.")
    fail(
        f"{consumer.call} on 8 messages: {timeline.peak} process() calls were in flight at the "
        "same time; expected at most 2: nothing limited them to the 2 workers.\n"
        "Likely mistake: starting a task for every fetched message (or fetching a batch and "
        "gathering it) without waiting for a free worker, so the next fetch starts more.\n"
        "Try: exactly `workers` worker tasks, each with one message at a time: a worker "
        "fetches its next message only after it has acked the last one.\n\n" + timeline.draw()
    )


async def test_one_slow_message_does_not_hold_up_the_other_workers(
    nats_server: NatsServer, timeline: Timeline
) -> None:
    others = ["m1", "m2", "m3", "m4"]
    async with broker(nats_server, timeline, ["slow", *others]) as side:
        work = Work(side, gate=["slow"])
        async with consuming(side, work, workers=2) as consumer:
            flowed = await consumer.until(lambda: all(j in side.acked for j in others), 1.0)
            meanwhile = [job for job in others if job in work.completed]
            work.gate.set()  # now let the slow one finish
            await consumer.until(side.all_acked, within=1.0)
    asked = max(side.batches, default=1)
    holding = (
        f"it asked the server for up to {asked} messages per pull request, so a worker that gets "
        "several holds them while it works on one, their ack_wait running meanwhile"
    )
    if flowed and asked == 1:
        return
    if flowed:
        fail(
            f"{consumer.call}: the other worker processed m1 to m4 while slow ran, but {holding}: "
            "a message held that way waits for a slow one, or comes back to another consumer "
            "when its ack_wait runs out, and is done twice.\n"
            "Expected: each worker holds one message at a time: `fetch(1)`.\n\n" + timeline.draw()
        )
    waited = [job for job in others if job not in meanwhile]
    # Which task ran each call: a worker that fetched several messages runs them all itself.
    slow_worker = timeline.span("process(slow)").task
    behind = [j for j in waited if (c := timeline.find(f"process({j})")) and c.task is slow_worker]
    if behind:
        mistake = (
            f"{names(behind)} waited in the very worker that ran process(slow): {holding}.\n"
            "Likely mistake: each worker fetches several messages (`fetch(10)`) and works "
            "through them one by one.\n"
        )
    else:
        mistake = (
            "Likely mistake: the messages are handled in batches (fetch `workers` messages, "
            "gather them, ack, fetch again): a whole batch waits for its slowest message.\n"
        )
    fail(
        f"{consumer.call}: while process(slow) was running, the other worker processed only "
        f"{names(meanwhile)}; {names(waited)} waited for slow although a worker was free.\n"
        "Expected: m1 to m4 processed and acked by the free worker while slow runs.\n"
        + mistake
        + "Try: let each worker fetch its next message as soon as it is done with its own: one "
        "loop per worker, `fetch(1)`, process, ack.\n\n" + timeline.draw()
    )


async def test_a_consumer_killed_mid_message_loses_none_and_repeats_none(
    nats_server: NatsServer, timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = [f"m{i}" for i in range(1, 7)]
    held = ["m3", "m4"]
    async with broker(nats_server, timeline, jobs, ack_wait=scaled(SHORT_ACK_WAIT)) as side:
        work = Work(side, hold=held)
        watch_acks(monkeypatch, work)
        async with consuming(side, work, workers=2) as first:
            await first.until_in_process(work, held)
            await first.kill()  # while m3 and m4 are in process
        done_before = list(work.completed)
        timeline.mark("killed, restarted")
        async with consuming(side, work, workers=2) as second:
            await second.until(side.all_acked, within=SHORT_ACK_WAIT + 1.0)
    call = f"{first.call}, killed while process(m3) and process(m4) ran, then started again"
    lost = work.lost()
    if lost:
        early = [job for job in lost if job in side.acked]
        when = {work.acked_early.get(job) for job in early}
        if when == {BEFORE}:
            seen = (
                f"The consumer acked {names(early)} before their process() had even started, "
                "so the server did not deliver them again after the kill.\n"
                "Likely mistake: acking a message as soon as it is fetched, before process() "
                "has finished.\n"
                "Try: `await process(msg.data)` first, and only then `await msg.ack_sync()`."
            )
        elif when == {CANCELLED}:
            seen = (
                f"The consumer acked {names(early)} after their process() had been cancelled "
                "by the kill, so the server did not deliver them again.\n"
                "Likely mistake: the ack in a `finally:`, which runs whether process() "
                f"returned, raised or was cancelled.\n{TRY_ACK_AFTER}"
            )
        else:
            seen = (
                f"The server had an ack for {names(early)} although their process() never "
                "finished, so it did not deliver them again after the kill.\n"
                if early
                else ""
            ) + "Try: `await process(msg.data)` first, and only then `await msg.ack_sync()`."
        fail(
            f"{call}: {names(lost)} never finished processing: lost.\n"
            "Expected: a message killed in process is not acked, so JetStream delivers it "
            "again (after ack_wait) and the restarted consumer processes it to the end.\n"
            f"{seen}\n\n{timeline.draw()}"
        )
    again = [job for job in done_before if work.calls[job] > 1]
    if again:
        fail(
            f"{call}: {names(again)} had been processed to the end before the kill, yet "
            "they were processed again after the restart: the server never received their "
            "ack, so it delivered them again.\n"
            "Expected: a message processed and acked before the kill is not processed again.\n"
            "Try: `await msg.ack_sync()` right after `await process(msg.data)` returns: it "
            "waits until the server has the ack.\n\n" + timeline.draw()
        )


async def test_a_failed_message_is_nakked_and_processed_again(
    nats_server: NatsServer, timeline: Timeline
) -> None:
    async with broker(nats_server, timeline, ["m1", "m2", "m3", "m4"]) as side:
        work = Work(side, fail=["m2"])
        async with consuming(side, work, workers=2) as consumer:
            await consumer.until(side.all_acked, within=1.0)
    if "m2" in work.completed and side.all_acked():
        return
    what = f"{consumer.call}: process(m2) raised ProcessFailed the first time"
    if "m2" in side.acked:
        fail(
            f"{what}, yet the server received an ack for m2, so it will never deliver it "
            "again: m2 is lost although its work was never done.\n"
            "Expected: a failed message is nak-ed, delivered again, processed, then acked.\n"
            "Likely mistake: acking in a `finally:` (or after an `except` that only logs), so "
            f"the ack is sent whether process() worked or not.\n{TRY_ACK_AFTER}\n\n"
            + timeline.draw()
        )
    fail(
        f"{what}, and it was not processed again within {scaled(1.0):.1f} s: "
        + (
            "the server received a nak for it, but the consumer did not take it again"
            if "m2" in side.nakked
            else "the server received neither an ack nor a nak for it, so it waits for m2's "
            f"ack_wait ({LONG_ACK_WAIT:.0f} s here) before it delivers m2 again"
        )
        + ".\n"
        "Expected: the failed message nak-ed, so JetStream delivers it again at once.\n"
        "Try: `except Exception: await msg.nak()` around process().\n\n" + timeline.draw()
    )


async def test_a_cancelled_consumer_stops_and_closes_its_connection(
    nats_server: NatsServer, timeline: Timeline
) -> None:
    async with broker(nats_server, timeline, ["m1", "m2", "m3"]) as side:
        work = Work(side, hold=["m1", "m2"])
        ours = nats_tasks()
        async with consuming(side, work, workers=2) as consumer:
            await consumer.until_in_process(work, ["m1", "m2"])
            await consumer.kill()
        await asyncio.sleep(0)  # let the cancelled tasks of a closed connection finish
        left = nats_tasks() - ours
    if not left:
        return
    fail(f"{consumer.call} stopped when cancelled, but {left_open(left)}")


async def test_a_quiet_spell_does_not_stop_the_consumer(
    nats_server: NatsServer, timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with broker(nats_server, timeline, ["m1"]) as side:
        quick_fetches(monkeypatch, side)
        work = Work(side)
        async with consuming(side, work, workers=2) as consumer:
            await consumer.until(side.all_acked, within=1.0)
            # The queue is empty now: let every worker's fetch() give up twice.
            await consumer.until(lambda: len(side.fetch_timeouts) >= 4, within=0.5)
            timeline.mark("m2 published")
            await side.publish("m2")
            await consumer.until(side.all_acked, within=1.0)
    if side.all_acked():
        return
    fail(
        f"{consumer.call}: m1 was processed and acked; after a quiet spell "
        f"({len(side.fetch_timeouts)} fetch() calls that found no message), m2 was published "
        f"and not processed within {scaled(1.0):.1f} s, though consume() was still running.\n"
        "Expected: each worker asks again after a fetch() that found nothing, and the next "
        "message is processed as soon as it comes.\n\n" + timeline.draw()
    )


class ProcessFailed(Exception):
    """What the fake process() raises for a job that is set to fail."""


class Broker:
    """The test's side of the real NATS server: a stream of jobs and every ack it receives.

    It publishes the jobs (their payload is their name) to a stream with one durable pull
    consumer, and listens on the consumer's ack subjects: `acked` holds the jobs the server
    received an ack for, `nakked` those it received a nak for. Both show on the timeline.
    """

    def __init__(self, server: NatsServer, timeline: Timeline, js: JetStreamContext) -> None:
        self.url, self.timeline, self.js = server.url, timeline, js
        self.jobs: list[str] = []
        self.by_sequence: dict[int, str] = {}
        self.acked: list[str] = []
        self.nakked: list[str] = []
        self.unconfirmed: list[str] = []  # acked without asking for the server's confirmation
        self.batches: list[int] = []  # how many messages each pull request of the consumer asked
        self.fetch_timeouts: list[TimeoutError] = []  # raised by fetch(), once quick_fetches()
        self.changed = asyncio.Event()  # set on every ack and every call of process()

    async def on_ack(self, msg: Msg) -> None:
        # $JS.ACK.<stream>.<consumer>.<delivered>.<stream sequence>.<consumer sequence>...
        job = self.by_sequence[int(msg.subject.split(".")[5])]
        if msg.data in (b"", b"+ACK"):
            if job not in self.acked:
                self.acked.append(job)
            if not msg.reply:  # msg.ack_sync() asks for a reply; msg.ack() sends and goes on
                self.unconfirmed.append(job)
            self.timeline.mark(f"ack {job}")
        elif msg.data.startswith(b"-NAK"):
            self.nakked.append(job)
            self.timeline.mark(f"nak {job}")
        self.changed.set()

    async def on_pull(self, msg: Msg) -> None:
        self.batches.append(json.loads(msg.data).get("batch", 1))

    def all_acked(self) -> bool:
        return len(self.acked) == len(self.jobs)

    async def publish(self, job: str) -> None:
        """Publish one more job to the stream."""
        self.by_sequence[(await self.js.publish(SUBJECT, job.encode())).seq] = job
        self.jobs.append(job)


@asynccontextmanager
async def broker(
    server: NatsServer, timeline: Timeline, jobs: list[str], ack_wait: float = LONG_ACK_WAIT
) -> AsyncIterator[Broker]:
    """The stream, its durable consumer (explicit acks) and the jobs published, for one test."""
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=STREAM, subjects=[SUBJECT])
        config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait)
        await js.add_consumer(STREAM, config, durable_name=DURABLE)
        side = Broker(server, timeline, js)
        await nc.subscribe(f"$JS.ACK.{STREAM}.{DURABLE}.>", cb=side.on_ack)
        await nc.subscribe(f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{DURABLE}", cb=side.on_pull)
        for job in jobs:
            await side.publish(job)
        yield side
    finally:
        await nc.close()


class Work:
    """The fake process(): each call is recorded on the timeline as `process(job)`.

    A job in `hold` waits on its first delivery until it is cancelled (killed in process); in
    `gate`, until the test opens the gate; in `fail`, it raises ProcessFailed on its first
    delivery. Every other call takes `delay` seconds.
    """

    def __init__(
        self,
        broker: Broker,
        delay: float = 0.02,
        hold: Collection[str] = (),
        gate: Collection[str] = (),
        fail: Collection[str] = (),
    ) -> None:
        self.broker, self.timeline, self.delay = broker, broker.timeline, delay
        self.hold, self.gated, self.fail = hold, gate, fail
        self.gate = asyncio.Event()
        self.calls: Counter[str] = Counter()
        self.completed: list[str] = []  # the jobs whose process() returned, in that order
        self.running: set[str] = set()
        self.cancelled: set[str] = set()  # the jobs whose process() was cancelled
        self.acked_early: dict[str, str] = {}  # job -> when the consumer acked it, unfinished

    async def process(self, data: bytes) -> None:
        job = data.decode()
        self.calls[job] += 1
        first = self.calls[job] == 1
        label = f"process({job})" + ("" if first else f" #{self.calls[job]}")
        try:
            with self.timeline.record(label):
                self.running.add(job)
                self.broker.changed.set()
                if first and job in self.hold:
                    await asyncio.Event().wait()  # held until the consumer is killed
                elif job in self.gated:
                    await self.gate.wait()
                else:
                    await asyncio.sleep(scaled(self.delay))
                if first and job in self.fail:
                    raise ProcessFailed(f"{job} failed")
            self.completed.append(job)
        except asyncio.CancelledError:
            self.cancelled.add(job)
            raise
        finally:
            self.running.discard(job)
            self.broker.changed.set()

    def lost(self) -> list[str]:
        return [job for job in self.broker.jobs if job not in self.completed]

    def note_ack(self, job: str) -> None:
        """The consumer acks `job`: note how far its process() had got, if not to the end."""
        if job in self.completed or job in self.acked_early:
            return
        if not self.calls[job]:
            self.acked_early[job] = BEFORE
        elif job in self.running:
            self.acked_early[job] = "while its process() ran"
        elif job in self.cancelled:
            self.acked_early[job] = CANCELLED
        else:
            self.acked_early[job] = "after its process() had raised"


def watch_acks(monkeypatch: pytest.MonkeyPatch, work: Work) -> None:
    """Have every ack the consumer sends (msg.ack(), msg.ack_sync()) noted by `work` first."""
    for name in ("ack", "ack_sync"):
        original = getattr(Msg, name)

        async def noted(msg: Msg, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            work.note_ack(msg.data.decode())
            return await _original(msg, *args, **kwargs)

        monkeypatch.setattr(Msg, name, noted)


class Consumer:
    """The learner's consume() running in a task, and ways to wait for it and to kill it."""

    def __init__(self, broker: Broker, work: Work, workers: int) -> None:
        self.broker = broker
        self.call = f'consume(url, "{STREAM}", "{DURABLE}", process, workers={workers})'
        self.task = asyncio.create_task(
            acked_queue.consume(broker.url, STREAM, DURABLE, work.process, workers)
        )
        self.task.add_done_callback(lambda _: broker.changed.set())

    async def until(self, ready: Callable[[], bool], within: float) -> bool:
        """Wait until ready() holds (True) or `within` seconds (scaled) pass (False)."""
        try:
            async with asyncio.timeout(scaled(within)):
                while not ready() and not self.task.done():
                    self.broker.changed.clear()
                    await self.broker.changed.wait()
        except TimeoutError:
            pass
        if self.task.done():
            self.stopped()
        return ready()

    async def until_in_process(self, work: Work, jobs: list[str]) -> None:
        """Wait until all these jobs are in process at the same time (one per worker)."""
        if not await self.until(lambda: work.running >= set(jobs), within=1.0):
            fail(
                f"{self.call}: {' and '.join(jobs)} were never in process at the same time "
                f"(in process: {names(sorted(work.running))}), although each of the "
                f"{len(jobs)} workers could take one: the messages were processed one at a "
                f"time.\n{TRY_WORKERS}\n\n{self.broker.timeline.draw()}"
            )

    def stopped(self) -> NoReturn:
        __tracebackhide__ = True
        error = None if self.task.cancelled() else self.task.exception()
        if isinstance(error, NotImplementedError):
            raise error
        timeouts = self.broker.fetch_timeouts
        if error is None:
            if timeouts:
                fail(
                    f"{self.call} returned while it was still meant to consume, after "
                    f"{len(timeouts)} of its fetch() calls had found no message and raised "
                    f"TimeoutError (the test cuts every fetch's timeout to "
                    f"{scaled(QUICK_FETCH):.2f} s; nats-py's default is 5 s): it took an empty "
                    "queue for the end of the work. A queue is empty now and then; the next "
                    "message may come any time.\n"
                    "Try: `except TimeoutError: continue` around the fetch: no message yet, ask "
                    f"again.\n\n{self.broker.timeline.draw()}"
                )
            fail(
                f"{self.call} returned while it was still meant to consume: it must run until "
                "it is cancelled (each worker a `while True` loop), fetching the next message "
                "as soon as it is done with one."
            )
        first = error
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        if any(first is timeout for timeout in timeouts):
            fail(
                f"{self.call} stopped with {type(error).__name__} ({type(first).__name__}"
                f"{f': {first}' if str(first) else ''}): a fetch() found no message within its "
                f"timeout (the test cuts every fetch's timeout to {scaled(QUICK_FETCH):.2f} s; "
                "nats-py's default is 5 s) and raised TimeoutError, and nothing caught it: the "
                "first quiet moment of the queue ended the consumer.\n"
                "Expected: a fetch() that found nothing is asked again; the consumer runs until "
                "it is cancelled.\n"
                "Try: `except TimeoutError: continue` around the fetch.\n\n"
                + self.broker.timeline.draw()
            )
        failed = isinstance(first, ProcessFailed)
        fail(
            f"{self.call} stopped with {type(error).__name__}"
            + (f" ({type(first).__name__}: {first})" if first is not error else f": {error}")
            + (
                ": process() failed for one message, and that must not stop the consumer.\n"
                "Expected: the failed message is nak-ed (so JetStream delivers it again) and "
                f"the workers go on.\n{TRY_ACK_AFTER}"
                if failed
                else "; it must keep consuming until it is cancelled."
            )
            + f"\n\n{self.broker.timeline.draw()}"
        )

    async def kill(self) -> None:
        """Cancel consume() mid-stream, while every worker is inside process(): it must stop."""
        self.task.cancel()
        await asyncio.wait({self.task}, timeout=scaled(0.5))
        if not self.task.done():
            fail(
                f"{self.call} was cancelled, and 0.5 s later it was still running: it ignored "
                "the cancellation, so it can never be stopped (a deploy, a Ctrl+C, a shutdown "
                "would hang).\n"
                "Likely mistake: a bare `except:` or `except BaseException:` around process() "
                "or the fetch, which catches the CancelledError too, and a loop that goes on.\n"
                "Try: catch `Exception` (CancelledError is not one) and let CancelledError "
                "propagate: the TaskGroup then cancels every worker and ends.\n\n"
                + self.broker.timeline.draw()
            )
        if not self.task.cancelled():
            self.stopped()


@asynccontextmanager
async def consuming(broker: Broker, work: Work, workers: int) -> AsyncIterator[Consumer]:
    """Run the learner's consume() for the block; cancel it afterwards, whatever happened."""
    consumer = Consumer(broker, work, workers)
    try:
        yield consumer
    finally:
        task = consumer.task
        task.cancel()
        await asyncio.wait({task}, timeout=scaled(0.1))
        if not task.done() and sys.version_info < (3, 12):
            # Python 3.11's asyncio.wait_for (which nats-py awaits in fetch() and ack_sync())
            # loses a cancellation that lands together with the reply it waits for (fixed in
            # 3.12): what is still cancelling but running was hit by that; cancel it again.
            for other in asyncio.all_tasks():
                if other.cancelling() and not other.done() and other is not asyncio.current_task():
                    other.cancel()
        await asyncio.wait({task}, timeout=scaled(0.4))
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: the test reports it, or already has


def quick_fetches(monkeypatch: pytest.MonkeyPatch, broker: Broker) -> None:
    """Make every fetch() of a pull subscription give up after QUICK_FETCH s (scaled) at most,
    whatever timeout it was given: a quiet spell then costs a fraction of a second, not 5 s.
    Each TimeoutError a fetch() raises is kept in `broker.fetch_timeouts`."""
    subscription = JetStreamContext.PullSubscription
    original = subscription.fetch
    signature = inspect.signature(original)

    async def fetch(*args: Any, **kwargs: Any) -> list[Msg]:
        call = signature.bind(*args, **kwargs)
        call.apply_defaults()
        if call.arguments["timeout"] is not None:  # None waits for the next message, however long
            call.arguments["timeout"] = min(call.arguments["timeout"], scaled(QUICK_FETCH))
        try:
            return await original(*call.args, **call.kwargs)
        except TimeoutError as error:
            broker.fetch_timeouts.append(error)
            broker.timeline.mark("fetch(): no message")
            broker.changed.set()
            raise

    monkeypatch.setattr(subscription, "fetch", fetch)


def names(jobs: Collection[str]) -> str:
    return ", ".join(jobs) or "none"


def left_open(left: Collection[asyncio.Task[Any]]) -> str:
    """What the test says of a consume() that ended with its NATS connection still open."""
    return (
        f"its connection to NATS is still open: {len(left)} task(s) of the NATS client still "
        f"running ({names(sorted(t.get_coro().__qualname__ for t in left))}).\n"
        "Expected: the connection closed when consume() ends, also when it is cancelled.\n"
        "Try: `async with await nats.connect(url) as nc:` around the work (or `finally: "
        "await nc.close()`)."
    )


def nats_tasks() -> set[asyncio.Task[Any]]:
    """The running tasks of NATS clients (a reader, a flusher, a pinger per open connection)."""

    def source(task: asyncio.Task[Any]) -> str:
        code = getattr(task.get_coro(), "cr_code", None)
        return code.co_filename if code else ""

    return {task for task in asyncio.all_tasks() if "/nats/" in source(task)}

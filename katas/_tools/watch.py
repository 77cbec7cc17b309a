"""Watch mode: rerun the current kata on every save; when it passes, move on to the next one.

`nox -s watch` starts at the next unsolved kata, `nox -s watch -- 04` at kata 04. Each run shows
only the first failing test (with its timeline), or "passed - next: ...". Saves are seen through
watchfiles (create and move events too, so editors that replace files work); on network or WSL
mounts set KATA_WATCH_POLL=1 to poll instead. Ctrl-C stops it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from watchfiles import watch

from katas._tools.catalog import REPO, Kata, KataError, all_katas, find
from katas._tools.learner import PASSED, statuses


def verdict(kata: Kata) -> bool:
    """Run the kata's tests in a fresh process (so the saved code is re-imported)."""
    stamp = time.strftime("%H:%M:%S")
    print(f"\n--- {stamp}  {kata.meta()[0]}  ({kata.stub.relative_to(REPO)})", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "katas._tools.learner", "kata", kata.name, "--brief"],
        cwd=REPO,
        check=False,
    )
    return done.returncode == 0


def fingerprint(kata: Kata) -> dict[Path, tuple[int, int]]:
    """Modification time and size of the kata's Python files."""
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in kata.folder.glob("*.py")}


def saves(kata: Kata) -> Iterator[set[Path]]:
    """Each batch of saved Python files in the kata's folder."""
    polling = os.environ.get("KATA_WATCH_POLL", "") not in ("", "0")
    for changes in watch(kata.folder, force_polling=polling, debounce=200, rust_timeout=0):
        changed = {Path(path) for _, path in changes if path.endswith(".py")}
        if changed:
            yield changed


def run(name: str | None) -> int:
    katas = all_katas()
    if name:
        kata = find(name)
    else:
        upcoming = [s.kata for s in statuses(katas) if s.state != PASSED]
        if not upcoming:
            print("Every kata passes already. `python3 -m nox -s watch -- NN` watches one of them.")
            return 0
        kata = upcoming[0]
    print(
        f"Watching {kata.folder.relative_to(REPO)}: save {kata.stub.name} to rerun its tests. "
        f"Ctrl-C stops. (Saves not noticed? KATA_WATCH_POLL=1, or `python3 -m nox -s kata -- "
        f"{kata.number}` by hand.)"
    )
    while True:
        seen = fingerprint(kata)
        if verdict(kata):
            later = [k for k in katas if int(k.number) > int(kata.number)]
            if not later:
                print("That was the last kata. Well done!")
                return 0
            kata = later[0]
            print(
                f"\npassed - next: {kata.name}: read {kata.readme.relative_to(REPO)}, then edit "
                f"and save {kata.stub.relative_to(REPO)}."
            )
            continue
        if fingerprint(kata) == seen:  # a save during the run counts: rerun at once
            next(saves(kata))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        return run(args[0] if args else None)
    except KataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nstopped watching.")
        return 0


if __name__ == "__main__":
    sys.exit(main())

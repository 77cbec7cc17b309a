"""The record of each kata's last result, so that the progress view reruns only what changed.

A result is kept with a fingerprint of everything that decides it: the kata's Python files (the
learner's stub and the tests), the harness beside the katas, the pytest configuration, the stage
unlocked and the Python version. While the fingerprint is the same, the result still holds. The
record lives in the git-ignored .katas/ folder and is written atomically by `state.save`.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from katas._tools.catalog import REPO, Kata
from katas._tools.state import FOLDER, load, save

RECORD = FOLDER / "results.json"


def harness_files(root: Path = REPO) -> list[Path]:
    """The files every kata's tests run on: the harness beside the katas, the pytest config."""
    katas = root / "katas"
    shared = [*katas.glob("*.py"), *(katas / "_harness").rglob("*.py")]
    return sorted([*shared, katas / "_tools" / "results.py", root / "pyproject.toml"])


def fingerprint(kata: Kata, stage: int, harness: Iterable[Path]) -> str:
    """A digest of what decides the kata's result; it changes whenever a rerun could differ."""
    digest = hashlib.sha256(f"{sys.version}\nstage {stage}\n".encode())
    given = sorted((kata.folder / "given").glob("*.py"))  # a "write the tests" kata's component
    for path in [*sorted(kata.folder.glob("*.py")), *given, *kata.bugs, *harness]:
        digest.update(str(path.relative_to(kata.root)).encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"(missing)")
    return digest.hexdigest()


def load_record() -> dict[str, Any]:
    """Every kata's recorded result: {kata name: {"fingerprint", "state", "detail", "tests"}}."""
    return load(RECORD)


def save_results(results: dict[str, dict[str, Any]]) -> None:
    """Record new results beside the ones already kept."""
    record = load_record()
    record.update(results)
    save(record, RECORD)


def pristine(katas: list[Kata]) -> set[str]:
    """The katas whose stub and tests are exactly as the repository ships them.

    One `git ls-tree` call, compared with git's blob hash of each file: an untouched stub fails
    every test with NotImplementedError (the proofs check it), so it needs no run to say so.
    Outside a git clone nothing is known to be pristine, and every kata runs.
    """
    if not katas:
        return set()
    root = katas[0].root
    shipped: dict[str, str] = {}
    for ref in ("origin/HEAD", "origin/main", "origin/practice", "HEAD"):
        listed = subprocess.run(
            ["git", "ls-tree", "-r", ref, "--", "katas"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        if listed.returncode == 0 and listed.stdout:
            for line in listed.stdout.splitlines():
                meta, path = line.split("\t", 1)
                shipped[path] = meta.split()[2]
            break
    return {
        kata.name
        for kata in katas
        if all(shipped.get(_path(f, root)) == _blob(f) for f in (kata.stub, kata.tests))
    }


def _path(file: Path, root: Path) -> str:
    return file.relative_to(root).as_posix()


def _blob(file: Path) -> str:
    """The id git gives the file's content (sha1 of 'blob <size>\\0<bytes>')."""
    if not file.is_file():
        return ""
    data = file.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()

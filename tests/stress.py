"""Stress the proofs: every reference, stub and decoy under varied scheduling, cores kept busy.

Usage: python tests/stress.py [VARIANT ...]   (default: every variant this Python supports)
Variants: base, jitter (fake work varies its delays and yields at random points), eager (the
eager task factory, Python 3.12+), uvloop (if it is installed). Prints one line per variant:
references passed, stubs failing, decoys caught; exit 1 if any proof failed anywhere.

Scale: kata 37 holds 10,000 connections here (1,000 in an ordinary run): its test reads the
count from KATA_CONNECTIONS and writes its figures (time to open them, peak of handle() calls at
once, or the count the OS allowed) to the file KATA_FIGURES names; each variant prints them.

Load: two CPU burners, and one pytest worker per core. The timing rules (docs/design.md) were
measured with a test process beside two to four busy ones; four workers beside two burners (six
busy processes on two cores) made a correct kata miss its 50 ms margin (CI, 32_rate_limit).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
import xml.etree.ElementTree as ET
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from katas._tools.catalog import Kata

BURNERS = 2
WORKERS = os.cpu_count() or 2
VARIANTS = {
    "base": {},
    "jitter": {"KATA_JITTER": "1"},
    "eager": {"KATA_EAGER": "1"},
    "uvloop": {"KATA_LOOP": "uvloop"},
}
DECOY_PROOF = "tests/test_proofs.py::test_the_decoy_is_caught_and_its_mistake_named"
# How many connections kata 37 holds under stress (see the docstring).
CONNECTIONS = 10_000
PROOFS = {
    "references passed": "test_the_reference_passes_every_test",
    "stubs failing": "test_the_stub_fails_every_test_with_notimplementederror",
    "decoys caught": "test_the_decoy_is_caught_and_its_mistake_named",
}


def available() -> list[str]:
    chosen = ["base", "jitter"]
    if sys.version_info >= (3, 12):
        chosen.append("eager")
    if find_spec("uvloop") is not None:
        chosen.append("uvloop")
    return chosen


def run(variant: str, repo: Path) -> tuple[str, bool]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "proofs.xml"
        figures = Path(tmp) / "figures.txt"
        scale = {
            "KATA_CONNECTIONS": str(CONNECTIONS),
            "KATA_FIGURES": str(figures),
            "KATA_PROOF_DECOYS": "named",  # caught under load; the first failure is `nox`'s
        }
        left_out = _asyncio_only_decoys(repo) if variant == "uvloop" else []
        started = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "tests/test_proofs.py",
                "-q",
                "-n",
                str(WORKERS),
                f"--junitxml={report}",
                "-p",
                "no:cacheprovider",
                *_graded_decoys(repo),
                *(f"--deselect={DECOY_PROOF}[{name}]" for name in left_out),
            ],
            cwd=repo,
            env={**os.environ, **VARIANTS[variant], **scale},
            capture_output=True,
            check=False,
        )
        took = time.monotonic() - started
        cases = ET.parse(report).getroot().iter("testcase")
        outcomes = [(case.get("name", ""), _failure(case)) for case in cases]
        # Each run of the big test writes its figures; a line repeated is said once.
        seen = figures.read_text().splitlines() if figures.is_file() else []
    counts = []
    for label, prefix in PROOFS.items():
        mine = [not failure for name, failure in outcomes if name.startswith(prefix)]
        counts.append(f"{label} {sum(mine)}/{len(mine)}")
    failed = [(name, failure) for name, failure in outcomes if failure]
    line = (
        f"{variant:<7} Python {sys.version_info.major}.{sys.version_info.minor}: "
        f"{', '.join(counts)}  ({took:.0f} s)"
    )
    if left_out:
        line += f"\n    left out, mistakes only on asyncio's own loop: {', '.join(left_out)}"
    for figure in dict.fromkeys(seen):
        line += f"\n    {figure}"
    for name, failure in failed:
        line += f"\n    FAILED {name}\n" + textwrap.indent(failure, "      ")
    return line, not failed


def _graded_decoys(repo: Path) -> list[str]:
    """A "write the tests" kata's decoys are wrong test files, graded from the same runs of the
    broken versions as its reference, whose proof already runs every one of them under the
    variant: left to `nox`'s tests session (each decoy costs a dozen pytest runs)."""
    return [f"--deselect={DECOY_PROOF}[{kata.name}/" for kata in _katas(repo) if kata.bugs]


def _asyncio_only_decoys(repo: Path) -> list[str]:
    """Decoys whose mistake only asyncio's own loop exposes (`not on uvloop:` in the docstring,
    for example uvloop ends a command's output only when the command exits): left out there."""
    from sandbox import read_decoy

    return [
        f"{kata.name}/{decoy.stem}"
        for kata in _katas(repo)
        for decoy in kata.decoys
        if read_decoy(decoy).not_on_uvloop
    ]


def _katas(repo: Path) -> list[Kata]:
    sys.path.insert(0, str(repo))  # the catalog, and the sandbox that imports it
    from katas._tools.catalog import all_katas

    return all_katas(repo)


def _failure(case: ET.Element) -> str:
    """The first lines of a failed proof's message ("" if it passed): enough to see why."""
    for child in case:
        if child.tag in ("failure", "error"):
            lines = (child.get("message") or child.text or "failed").splitlines()
            return "\n".join(lines[:6])
    return ""


def main(argv: list[str]) -> int:
    repo = Path(__file__).resolve().parents[1]
    variants = argv or available()
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(BURNERS)]
    try:
        results = [run(variant, repo) for variant in variants]
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    print(f"\nStress, {BURNERS} CPU burners beside {WORKERS} pytest workers:")
    for line, _ in results:
        print(f"  {line}")
    return 0 if all(green for _, green in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

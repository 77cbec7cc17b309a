"""Find the edges no test touches: mutation testing of one kata's reference, with cosmic-ray.

Usage: python tests/mutation.py NN [NN ...]   (through `nox -s mutation -- NN`)

For each kata: a sandbox with the reference in place of the stub (as the proofs build it), every
follow-up stage unlocked; cosmic-ray changes the reference one small way at a time (`<` into
`<=`, a number into another, a condition negated, ...) and runs the kata's tests on each change.
A change that no test notices (a surviving mutant) is an edge no test touches, or an equivalent
change (one that cannot alter behaviour): judge each, and close the real gaps with a test.
Prints each survivor as its changed line; exit 1 if any survived.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]

from sandbox import build  # noqa: E402

from katas._tools.catalog import Kata, KataError, find  # noqa: E402

CONFIG = """\
[cosmic-ray]
module-path = "{module}"
timeout = 120.0
excluded-modules = []
test-command = "{python} -m pytest -x -q -p no:cacheprovider -p no:xdist katas/{kata}"

[cosmic-ray.distributor]
name = "local"
"""


def survivors(kata: Kata) -> tuple[int, list[str]]:
    """How many mutants were tried, and each survivor as 'line N: old -> new (operator)'."""
    with tempfile.TemporaryDirectory() as tmp:
        root = build(Path(tmp), kata, kata.reference)
        module = kata.stub.relative_to(kata.root).as_posix()
        config = root / "cosmic-ray.toml"
        config.write_text(CONFIG.format(module=module, python=sys.executable, kata=kata.name))
        session = root / "session.sqlite"
        env = {**os.environ, "KATA_STAGE": "all"}
        for step in ("init", "exec"):
            subprocess.run(
                ["cosmic-ray", step, str(config), str(session)], cwd=root, env=env, check=True
            )
        dump = subprocess.run(
            ["cosmic-ray", "dump", str(session)],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
    jobs = [json.loads(line) for line in dump.stdout.splitlines() if line.strip()]
    found = []
    for item, result in jobs:
        if result and result.get("test_outcome") == "survived":
            mutation = item["mutations"][0]
            found.append(
                f"line {mutation['start_pos'][0]}: {_change(result['diff'])}  "
                f"({mutation['operator_name'].removeprefix('core/')})"
            )
    return len(jobs), found


def _change(diff: str) -> str:
    """'old -> new' from a one-line unified diff."""
    lines = diff.splitlines()
    old = next(
        (ln[1:].strip() for ln in lines if ln.startswith("-") and not ln.startswith("---")), ""
    )
    new = next(
        (ln[1:].strip() for ln in lines if ln.startswith("+") and not ln.startswith("+++")), ""
    )
    return f"{old}  ->  {new}"


def main(names: list[str]) -> int:
    if not names:
        print("name at least one kata: nox -s mutation -- 14", file=sys.stderr)
        return 2
    try:
        katas = [find(name) for name in names]
    except KataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    left = 0
    for kata in katas:
        if kata.bugs:  # its reference is a test file: the broken versions are its mutants
            print(f"{kata.name}: the learner writes the tests; katas/_bugs/ holds its mutants")
            continue
        tried, found = survivors(kata)
        left += len(found)
        print(f"{kata.name}: {tried} mutants, {len(found)} survived")
        for line in found:
            print(f"  {line}")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

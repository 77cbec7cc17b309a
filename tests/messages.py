"""Print what a learner sees for a kata's stub, reference and each decoy (review the messages).

Usage: python tests/messages.py NN [stub | reference | DECOY_NAME]
"""

import sys
import tempfile
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]

from sandbox import read_decoy, run_kata  # noqa: E402

from katas._tools.catalog import KataError, find  # noqa: E402


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        kata = find(argv[0])
    except KataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    answers: dict[str, Path | None] = {"stub": None, "reference": kata.reference}
    answers |= {d.stem: d for d in kata.decoys}
    chosen = argv[1:] or list(answers)
    for name in chosen:
        if name not in answers:
            print(f"error: {kata.name} has no {name!r}: choose from {', '.join(answers)}")
            return 2
        answer = answers[name]
        with tempfile.TemporaryDirectory() as tmp:
            run = run_kata(Path(tmp), kata, answer)
        header = f"===== {kata.name} with {name}"
        if answer is not None and answer.parent.name == kata.name:
            header += f": {read_decoy(answer).mistake}"
        print(header)
        for o in run.outcomes:
            print(f"  {'PASS' if o.outcome == 'passed' else 'FAIL'}  {o.test}")
        for o in run.failures()[: None if argv[1:] else 1]:
            print(f"\n--- {o.test}\n{o.text.rstrip()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Start a new kata the house way: `nox -s new -- SLUG "Title" [--after NN | --number NN]`.

Creates katas/NN_slug/{README.md, hints.toml, slug.py, test_slug.py}, solutions/NN_slug/slug.py and
tests/decoys/NN_slug/ from the templates beside this file. Everything it writes is marked TODO,
so the repository's checks stay red, naming what is left, until the kata is really written.
`--after NN` makes room: the later katas move up one number in all three trees.
"""

from __future__ import annotations

import argparse
import keyword
import re
import sys
from pathlib import Path

from katas._tools.catalog import (
    REPO,
    TABLE_END,
    TABLE_START,
    Kata,
    KataError,
    all_katas,
    curriculum_table,
)

TEMPLATES = Path(__file__).parent / "templates"
SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
DECOYS = ["one_after_another", "blocks_the_loop", "todo_third_mistake"]
TREES = ["katas", "solutions", "tests/decoys", "katas/_bugs"]


def check_slug(slug: str, root: Path) -> None:
    """Refuse a slug that cannot be a module name, shadows one, or is taken."""
    if not SLUG.match(slug):
        raise KataError(f"invalid slug {slug!r}: use lower_case letters, digits and _")
    beside = {p.stem for p in (root / "katas").glob("*.py")} | {
        p.name for p in (root / "katas").iterdir() if p.is_dir() and not p.name[:1].isdigit()
    }  # the harness's modules and packages, importable by every kata's tests
    if keyword.iskeyword(slug) or slug in sys.stdlib_module_names or slug in beside:
        raise KataError(f"invalid slug {slug!r}: it would shadow the module {slug!r}")
    if any(k.slug == slug for k in all_katas(root)):
        raise KataError(f"a kata named {slug!r} exists already")


def renumber(root: Path, start: int) -> list[tuple[str, str]]:
    """Move every kata numbered `start` or more up by one, in katas/, solutions/, decoys, bugs."""
    moved = []
    for kata in reversed([k for k in all_katas(root) if int(k.number) >= start]):
        new = f"{int(kata.number) + 1:02d}"
        for tree in TREES:
            folder = root / tree / kata.name
            if folder.is_dir():
                folder.rename(root / tree / f"{new}_{kata.slug}")
        readme = root / "katas" / f"{new}_{kata.slug}" / "README.md"
        if readme.is_file():
            text = readme.read_text(encoding="utf-8")
            text = re.sub(rf"^# {kata.number} ·", f"# {new} ·", text, count=1, flags=re.M)
            text = text.replace(f"nox -s kata -- {kata.number}", f"nox -s kata -- {new}")
            readme.write_text(text, encoding="utf-8")
        moved.append((kata.name, f"{new}_{kata.slug}"))
    return moved


def write_table(root: Path) -> None:
    """Regenerate the README's curriculum table from the katas."""
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if not 0 <= start < end:
        raise KataError(f"README.md has no {TABLE_START} ... {TABLE_END} markers")
    readme.write_text(
        text[:start] + curriculum_table(root) + text[end + len(TABLE_END) :], encoding="utf-8"
    )


def new(
    slug: str, title: str, root: Path = REPO, number: str | None = None, after: str | None = None
) -> Kata:
    """Scaffold a kata; returns it. Refuses, with KataError, anything that would clash."""
    check_slug(slug, root)
    katas = all_katas(root)
    if number is not None and after is not None:
        raise KataError("give --number or --after, not both")
    if after is not None:
        if not after.isdigit() or not any(int(k.number) == int(after) for k in katas):
            raise KataError(f"--after {after}: no kata has that number")
        wanted = int(after) + 1
        renumber(root, wanted)
    elif number is not None:
        if not number.isdigit() or int(number) < 1:
            raise KataError(f"--number {number}: give a number such as 07")
        wanted = int(number)
        if any(int(k.number) == wanted for k in katas):
            raise KataError(f"kata number {wanted:02d} is taken: use --after to insert one")
    else:
        wanted = max((int(k.number) for k in katas), default=0) + 1
    kata = Kata(f"{wanted:02d}", slug, root)
    values = {"number": kata.number, "title": title, "slug": slug, "function": slug}
    files = {
        kata.readme: "README.md.tmpl",
        kata.hints_file: "hints.toml.tmpl",
        kata.stub: "stub.py.tmpl",
        kata.tests: "test.py.tmpl",
        kata.reference: "reference.py.tmpl",
    }
    for decoy in DECOYS:
        files[root / "tests" / "decoys" / kata.name / f"{decoy}.py"] = "decoy.py.tmpl"
    for path, template in files.items():
        text = (TEMPLATES / template).read_text(encoding="utf-8")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.format(**values, decoy=path.stem), encoding="utf-8")
    write_table(root)
    return kata


def main(argv: list[str] | None = None, root: Path = REPO) -> int:
    parser = argparse.ArgumentParser(prog="nox -s new --", description=__doc__.splitlines()[0])
    parser.add_argument("slug", help="the module name, e.g. bounded_gather")
    parser.add_argument("title", help='the title, e.g. "bounded gather: at most K at once"')
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--after", help="insert after this kata number, moving the later ones")
    where.add_argument("--number", help="use this free number instead of the next one")
    args = parser.parse_args(argv)
    try:
        kata = new(args.slug, args.title, root, number=args.number, after=args.after)
    except KataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"Created {kata.name}. Fill in every TODO, then run "
        f"`python3 -m nox -s proofs -- {kata.number}`:"
    )
    for path in [kata.readme, kata.hints_file, kata.stub, kata.tests, kata.reference, *kata.decoys]:
        print(f"  {path.relative_to(kata.root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

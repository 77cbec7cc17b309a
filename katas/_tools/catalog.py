"""The katas on disk: their folders, files, titles and tracks, and how to name one."""

from __future__ import annotations

import ast
import re
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FOLDER = re.compile(r"^(\d{2})_([a-z][a-z0-9_]*)$")
# README line: **Track:** Foundations · **Topic:** `asyncio.gather` · **You learn:** ...
FOLDED = re.compile(r"<details>\s*<summary>(.*?)</summary>(.*?)</details>", re.S)
STAGE_MARK = re.compile(r"mark\.stage\((\d+)\)")
META = re.compile(
    r"\*\*Track:\*\*\s*(.+?)\s*·\s*\*\*Topic:\*\*\s*(.+?)\s*·\s*\*\*You learn:\*\*\s*(.+)"
)


class KataError(Exception):
    """A kata name that matches nothing, or a kata folder missing a file: one line to show."""


@dataclass(frozen=True)
class Kata:
    number: str  # "04"
    slug: str  # "gather"
    root: Path  # the repository (or sandbox) the kata lives in

    @property
    def name(self) -> str:
        return f"{self.number}_{self.slug}"

    @property
    def folder(self) -> Path:
        return self.root / "katas" / self.name

    @property
    def stub(self) -> Path:
        return self.folder / f"{self.slug}.py"

    @property
    def tests(self) -> Path:
        return self.folder / f"test_{self.slug}.py"

    @property
    def readme(self) -> Path:
        return self.folder / "README.md"

    @property
    def reference(self) -> Path:
        return self.root / "solutions" / self.name / f"{self.slug}.py"

    @property
    def decoys(self) -> list[Path]:
        return sorted((self.root / "tests" / "decoys" / self.name).glob("*.py"))

    @property
    def bugs(self) -> list[Path]:
        """The broken versions of the component, for a kata where the learner writes the tests
        (katas/_bugs/NN_slug/): the tests are graded by the bugs they catch."""
        return sorted((self.root / "katas" / "_bugs" / self.name).glob("*.py"))

    @property
    def component(self) -> Path | None:
        """The working component the learner writes tests for (katas with bugs only): the one
        module in the kata's given/ folder."""
        given = sorted((self.folder / "given").glob("*.py"))
        return given[0] if self.bugs and len(given) == 1 else None

    def meta(self) -> tuple[str, str, str, str]:
        """(title, track, topic, what it teaches) from the README's heading and Track line."""
        text = self.readme.read_text(encoding="utf-8") if self.readme.is_file() else ""
        title = next((ln[2:].strip() for ln in text.splitlines() if ln.startswith("# ")), "")
        found = META.search(text)
        track, topic, teaches = found.groups() if found else ("", "", "")
        return title, track, topic, teaches

    @property
    def hints_file(self) -> Path:
        return self.folder / "hints.toml"

    def hints(self, stage: int = 1) -> list[str]:
        """The hints of one stage, in order, from hints.toml (kept out of the README)."""
        if not self.hints_file.is_file():
            return []
        try:
            data = tomllib.loads(self.hints_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise KataError(
                f"{self.hints_file.relative_to(self.root)} is not valid TOML: {error}"
            ) from None
        return [
            str(hint.get("text", "")).strip()
            for hint in data.get("hint", [])
            if hint.get("stage", 1) == stage
        ]

    def stage_briefs(self) -> list[tuple[str, str]]:
        """The README's folded follow-up stages ("Stage 2: ..."), in order: (summary, text)."""
        text = self.readme.read_text(encoding="utf-8") if self.readme.is_file() else ""
        found = [(summary.strip(), body.strip()) for summary, body in FOLDED.findall(text)]
        return [(summary, body) for summary, body in found if summary.startswith("Stage")]

    def stages(self) -> int:
        """How many stages the kata's tests have (tests marked @pytest.mark.stage(n))."""
        text = self.tests.read_text(encoding="utf-8") if self.tests.is_file() else ""
        return max((int(n) for n in STAGE_MARK.findall(text)), default=1)

    def original_stub(self) -> bytes:
        """The stub as the repository ships it (from git), whatever the learner did to it."""
        path = self.stub.relative_to(self.root).as_posix()
        for ref in ("origin/HEAD", "origin/main", "origin/practice", "HEAD"):
            shown = subprocess.run(
                ["git", "show", f"{ref}:{path}"], cwd=self.root, capture_output=True, check=False
            )
            if shown.returncode == 0:
                return shown.stdout
        raise KataError(f"cannot find the original {path} in git: is this a git clone?")

    def missing(self) -> list[str]:
        """The files this kata needs to run and does not have, relative to the repository."""
        needed = [self.readme, self.stub, self.tests]
        return [str(p.relative_to(self.root)) for p in needed if not p.is_file()]

    def syntax_error(self) -> str:
        """'file:line: message' when the learner's file does not parse, else ''."""
        if not self.stub.is_file():
            return ""
        try:
            ast.parse(self.stub.read_bytes(), filename=str(self.stub))
        except SyntaxError as error:
            where = self.stub.relative_to(self.root)
            return f"{where}:{error.lineno}: {error.msg}"
        return ""


def all_katas(root: Path = REPO) -> list[Kata]:
    """Every kata folder under katas/, in learning order."""
    folders = sorted(p for p in (root / "katas").iterdir() if p.is_dir())
    return [
        Kata(found.group(1), found.group(2), root)
        for found in (FOLDER.match(p.name) for p in folders)
        if found
    ]


def find(name: str, root: Path = REPO) -> Kata:
    """The kata named by number ("4", "04"), slug ("gather") or folder ("04_gather")."""
    katas = all_katas(root)
    wanted = name.strip().lower().rstrip("/").rsplit("/", 1)[-1]
    for kata in katas:
        if wanted in (kata.name, kata.slug) or (
            wanted.isdigit() and int(wanted) == int(kata.number)
        ):
            return kata
    choices = ", ".join(k.name for k in katas)
    raise KataError(f"unknown kata {name!r}: choose one of {choices}")


TABLE_START, TABLE_END = "<!-- curriculum:start -->", "<!-- curriculum:end -->"


def curriculum_table(root: Path = REPO) -> str:
    """The README's curriculum table, generated from the katas' own READMEs."""
    rows = ["| # | Kata | Track | Topic | You learn |", "|---|---|---|---|---|"]
    for kata in all_katas(root):
        title, track, topic, teaches = kata.meta()
        short = title.split("·", 1)[-1].strip()
        rows.append(
            f"| {kata.number} | [{short}](katas/{kata.name}/README.md) | {track} | {topic} "
            f"| {teaches} |"
        )
    return "\n".join([TABLE_START, *rows, TABLE_END])


def readme_table(root: Path = REPO) -> str:
    """The curriculum table as it stands in the README."""
    text = (root / "README.md").read_text(encoding="utf-8")
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    return text[start : end + len(TABLE_END)] if 0 <= start < end else ""


if __name__ == "__main__":
    print(curriculum_table())

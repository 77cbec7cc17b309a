"""Every kata folder has the shape docs/design.md gives it; the README table matches the folders."""

import ast
import re
from pathlib import Path

import pytest

from katas._tools.catalog import REPO, Kata, all_katas, curriculum_table, readme_table

KATAS = all_katas()
SECTIONS = [
    "## Story",
    "## Your task",
    "## Rules",
    "## Example",
    "## What the tests check",
    "## Hints",
    "## Further reading",
]


def _imports(path: Path) -> set[str]:
    """What a module imports at its top: a stub keeps the imports its answer needs."""
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _api(path: Path) -> dict[str, str | None]:
    """Top-level functions and classes of a module, with their docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name: ast.get_docstring(node)
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }


def test_kata_folders_are_numbered_in_order_without_gaps() -> None:
    strays = [
        p.name
        for p in (REPO / "katas").iterdir()
        if p.is_dir() and not p.name.startswith(("_", ".")) and not re.match(r"^\d\d_", p.name)
    ]
    assert not strays, f"folders under katas/ that are not NN_slug: {strays}"
    numbers = [int(k.number) for k in KATAS]
    assert numbers == list(range(1, len(KATAS) + 1)), (
        f"kata numbers must run 01, 02, ...: {numbers}"
    )


@pytest.mark.needs_solutions
def test_every_solution_and_decoy_folder_belongs_to_a_kata() -> None:
    names = {k.name for k in KATAS}
    for parent in (REPO / "solutions", REPO / "tests" / "decoys", REPO / "katas" / "_bugs"):
        if not parent.is_dir():
            continue
        orphans = [p.name for p in parent.iterdir() if p.is_dir() and p.name not in names]
        assert not orphans, f"{parent.relative_to(REPO)} has folders of no kata: {orphans}"


@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.name)
def test_the_kata_has_every_file(kata: Kata) -> None:
    assert not kata.missing(), f"{kata.name} lacks {kata.missing()}"
    extra = [p.name for p in kata.folder.glob("*.py") if p not in (kata.stub, kata.tests)]
    assert not extra, f"{kata.name} has modules besides its stub and tests: {extra}"


def test_a_kata_whose_learner_writes_the_tests_has_a_component_and_five_bugs() -> None:
    for kata in (k for k in KATAS if k.bugs):
        assert kata.component is not None, (
            f"{kata.name} has broken versions in katas/_bugs/{kata.name}/, so its given/ folder "
            "holds one module: the working component the learner writes tests for"
        )
        assert len(kata.bugs) >= 5, f"katas/_bugs/{kata.name}/ has {len(kata.bugs)} bugs, not 5+"
        for bug in kata.bugs:
            docstring = ast.get_docstring(ast.parse(bug.read_text(encoding="utf-8"))) or ""
            assert docstring.strip(), (
                f"{bug.relative_to(REPO)}: its docstring's first line says, in behaviour, what "
                "this version gets wrong (the learner reads it when no test catches it)"
            )


@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.name)
def test_the_readme_has_its_metadata_and_every_section(kata: Kata) -> None:
    title, track, topic, teaches = kata.meta()
    assert title.startswith(f"{kata.number} · "), (
        f"{kata.readme}: title must be '# {kata.number} · ...'"
    )
    assert track and topic and teaches, (
        f"{kata.readme}: needs the **Track:** · **Topic:** · **You learn:** line"
    )
    text = kata.readme.read_text(encoding="utf-8")
    absent = [s for s in SECTIONS if s not in text]
    assert not absent, f"{kata.readme.relative_to(REPO)} lacks {absent}"


@pytest.mark.needs_solutions
@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.name)
def test_the_stub_leaves_the_answer_out_and_the_reference_keeps_its_shape(kata: Kata) -> None:
    assert kata.reference.is_file(), f"{kata.name} lacks {kata.reference.relative_to(REPO)}"
    stub = kata.stub.read_text(encoding="utf-8")
    assert "raise NotImplementedError" in stub, (
        f"{kata.stub.name}: the stub must raise NotImplementedError"
    )
    assert "NotImplementedError" not in kata.reference.read_text(encoding="utf-8")
    if kata.bugs:  # the learner writes tests: the stub is one placeholder test, the reference many
        missing = _imports(kata.stub) - _imports(kata.reference)
        assert not missing, f"{kata.reference.relative_to(REPO)} must import {missing}, as the stub"
        return
    assert _api(kata.stub) == _api(kata.reference), (
        f"{kata.reference.relative_to(REPO)} must keep the stub's functions, classes and "
        "docstrings "
        "(the reference is the stub plus the answer)"
    )
    differ = _imports(kata.reference) ^ _imports(kata.stub)
    assert not differ, (
        f"{kata.stub.relative_to(REPO)} must import what its reference imports "
        f"(the docstrings and the answer use them): {differ}"
    )


def test_the_readme_curriculum_table_matches_the_katas() -> None:
    assert readme_table() == curriculum_table(), (
        "README.md's curriculum table is out of date: paste the output of "
        "`python -m katas._tools.catalog` between its markers"
    )


@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.name)
def test_no_todo_of_the_scaffold_is_left(kata: Kata) -> None:
    files = [kata.readme, kata.hints_file, kata.stub, kata.tests, kata.reference, *kata.decoys]
    unfinished = [
        str(f.relative_to(REPO)) for f in files if f.is_file() and "TODO" in f.read_text("utf-8")
    ]
    assert not unfinished, f"{kata.name} is not finished: TODO left in {unfinished}"


def _words(text: str) -> str:
    return " ".join(re.sub(r"[`*_>#-]", " ", text).split()).lower()


def _prose(hint: str) -> list[str]:
    """The hint's first words outside code blocks, as _words() spells them."""
    prose = re.sub(r"```.*?```", "", hint, flags=re.S)
    words = _words(prose)
    return [words[:60]] if len(words) >= 20 else []


@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.name)
def test_hints_come_only_on_request_one_stage_at_a_time(kata: Kata) -> None:
    counts = {stage: len(kata.hints(stage)) for stage in range(1, kata.stages() + 1)}
    assert all(counts.values()), (
        f"{kata.hints_file.relative_to(REPO)}: every stage needs hints; hints per stage: {counts}"
    )
    # In plain sight (a README in a terminal, the stub, a stage's text printed on unlock) a hint
    # is a spoiler: none of their text may appear there.
    sights = {kata.readme: kata.readme.read_text("utf-8"), kata.stub: kata.stub.read_text("utf-8")}
    for where, text in sights.items():
        assert not re.search(r"<summary>\s*Hint|^\s*\**Hint\b.*:", text, re.M), (
            f"{where.relative_to(REPO)} holds a hint: hints belong in {kata.hints_file.name}"
        )
        seen = _words(text)
        for stage in counts:
            for hint in kata.hints(stage):
                for sentence in _prose(hint):  # code may repeat the stub's own signatures
                    assert sentence not in seen, (
                        f"{where.relative_to(REPO)} repeats a hint of stage {stage} "
                        f"({sentence!r}): hints belong in {kata.hints_file.name} only"
                    )


def _helpers(kata: Kata) -> dict[str, tuple[bool, str]]:
    """A kata test file's top-level helpers: name -> (is a function, body without its name,
    docstring and the kata's own module name, which every kata spells differently)."""
    helpers = {}
    for node in ast.parse(kata.tests.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name.startswith("test_"):
                continue
            body = node.body[1:] if ast.get_docstring(node) is not None else node.body
            if all(isinstance(statement, ast.Pass) for statement in body):
                continue  # `class QueryError(Exception): "..."`: a name, not a probe
            shape = ast.dump(ast.Module(body=body, type_ignores=[])).replace(
                repr(kata.stub.stem), "'<kata>'"
            )
            helpers[node.name] = (not isinstance(node, ast.ClassDef), shape)
    return helpers


def test_no_two_kata_tests_define_the_same_probe() -> None:
    """A probe two katas need lives in the harness (katas/_harness), once: a function of the
    same name, or any helper with the same body, in two kata test files was copied. Classes may
    share a name (each kata's own fakes: a Database, a Service), not a body."""
    by_name: dict[str, list[str]] = {}
    by_body: dict[str, list[str]] = {}
    for kata in KATAS:
        for name, (function, body) in _helpers(kata).items():
            if function:
                by_name.setdefault(name, []).append(kata.name)
            by_body.setdefault(body, []).append(f"{kata.name}: {name}")
    copies = [
        f"{name}() in {', '.join(katas)}" for name, katas in by_name.items() if len(katas) > 1
    ]
    copies += [" = ".join(places) for places in by_body.values() if len(places) > 1]
    assert not copies, "helpers defined in two kata test files (move them into the harness):\n" + (
        "\n".join(copies)
    )

"""The authoring kit: numbering, refusals, renumbering, and a scaffold that starts red."""

from pathlib import Path

import pytest

from katas._tools.catalog import KataError, all_katas, curriculum_table, readme_table
from katas._tools.scaffold import main, new

README = """# demo

<!-- curriculum:start -->
<!-- curriculum:end -->
"""


def _kata(root: Path, name: str) -> None:
    number, slug = name.split("_", 1)
    folder = root / "katas" / name
    folder.mkdir(parents=True)
    (folder / "README.md").write_text(
        f"# {number} · {slug}\n\n**Track:** T · **Topic:** `x` · **You learn:** y\n\n"
        f"Run them with `python3 -m nox -s kata -- {number}`.\n"
    )
    (folder / f"{slug}.py").write_text("raise NotImplementedError\n")
    (folder / f"test_{slug}.py").write_text("")
    for tree in ("solutions", "tests/decoys"):
        (root / tree / name).mkdir(parents=True)
        (root / tree / name / f"{slug}.py").write_text("")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "README.md").write_text(README)
    (tmp_path / "katas").mkdir()
    (tmp_path / "katas" / "servers.py").write_text("")  # a harness module beside the katas
    for name in ("01_alpha", "02_beta", "03_gamma"):
        _kata(tmp_path, name)
    return tmp_path


def test_a_new_kata_takes_the_next_number_and_every_file(repo: Path) -> None:
    kata = new("delta", "delta: the fourth", repo)
    assert kata.name == "04_delta"
    assert kata.missing() == []
    assert kata.reference.is_file()
    assert len(kata.hints()) == 3
    assert [d.name for d in kata.decoys] == [
        "blocks_the_loop.py",
        "one_after_another.py",
        "todo_third_mistake.py",
    ]
    assert kata.meta()[0] == "04 · delta: the fourth"
    assert "nox -s kata -- 04" in kata.readme.read_text()
    assert "async def delta(" in kata.stub.read_text()
    assert "import delta" in kata.tests.read_text()
    assert readme_table(repo) == curriculum_table(repo)
    assert "[delta: the fourth](katas/04_delta/README.md)" in readme_table(repo)


def test_the_scaffold_starts_red_with_every_gap_marked_todo(repo: Path) -> None:
    kata = new("delta", "delta", repo)
    for path in [kata.readme, kata.hints_file, kata.stub, kata.tests, kata.reference, *kata.decoys]:
        assert "TODO" in path.read_text(), f"{path.name} must mark what is left to write"
    assert "raise NotImplementedError" in kata.stub.read_text()
    assert "raise NotImplementedError" in kata.reference.read_text()
    compile(kata.stub.read_text(), str(kata.stub), "exec")
    compile(kata.tests.read_text(), str(kata.tests), "exec")


def test_a_given_free_number_is_used(repo: Path) -> None:
    assert new("delta", "delta", repo, number="7").name == "07_delta"


@pytest.mark.parametrize(
    ("slug", "number", "after", "error"),
    [
        ("Bad-Slug", None, None, "invalid slug 'Bad-Slug'"),
        ("9lives", None, None, "invalid slug '9lives'"),
        ("queue", None, None, "it would shadow the module 'queue'"),
        ("class", None, None, "it would shadow the module 'class'"),
        ("servers", None, None, "it would shadow the module 'servers'"),
        ("beta", None, None, "a kata named 'beta' exists already"),
        ("delta", "02", None, "kata number 02 is taken"),
        ("delta", "two", None, "--number two"),
        ("delta", None, "09", "--after 09: no kata has that number"),
        ("delta", "05", "01", "give --number or --after, not both"),
    ],
)
def test_clashes_are_refused_and_nothing_is_written(
    repo: Path, slug: str, number: str | None, after: str | None, error: str
) -> None:
    before = sorted(p.relative_to(repo) for p in repo.rglob("*"))
    with pytest.raises(KataError, match=error.replace("(", r"\(")):
        new(slug, "title", repo, number=number, after=after)
    assert sorted(p.relative_to(repo) for p in repo.rglob("*")) == before


def test_inserting_after_a_kata_moves_the_later_ones_in_every_tree(repo: Path) -> None:
    kata = new("between", "between", repo, after="01")
    assert kata.name == "02_between"
    assert [k.name for k in all_katas(repo)] == ["01_alpha", "02_between", "03_beta", "04_gamma"]
    for tree in ("solutions", "tests/decoys"):
        names = sorted(p.name for p in (repo / tree).iterdir())
        assert names == ["01_alpha", "02_between", "03_beta", "04_gamma"], tree
    moved = (repo / "katas" / "04_gamma" / "README.md").read_text()
    assert moved.startswith("# 04 · gamma")
    assert "nox -s kata -- 04" in moved
    assert readme_table(repo) == curriculum_table(repo)


def test_the_command_refuses_with_one_line(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["beta", "Beta again"], root=repo) == 2
    assert capsys.readouterr().err == "error: a kata named 'beta' exists already\n"
    assert main(["delta", "Delta"], root=repo) == 0
    assert "Created 04_delta" in capsys.readouterr().out

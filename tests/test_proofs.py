"""The three proofs every kata carries: the reference passes, the stub fails, decoys are caught."""

import os
from pathlib import Path

import pytest
from sandbox import read_decoy, run_kata

from katas._tools.catalog import Kata, all_katas

KATAS = all_katas()
DECOYS = [(kata, decoy) for kata in KATAS for decoy in kata.decoys]


def _listing(outcomes: list) -> str:  # type: ignore[type-arg]
    return "\n".join(f"  {o.outcome:7} {o.test}  {o.reason}" for o in outcomes)


@pytest.mark.needs_solutions
@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.name)
def test_the_reference_passes_every_test(kata: Kata, tmp_path: Path) -> None:
    run = run_kata(tmp_path, kata, kata.reference)
    assert run.outcomes, f"no test ran for {kata.name}:\n{run.output}"
    assert not run.failures(), (
        f"{kata.reference.relative_to(kata.root)} fails tests of its kata:\n"
        f"{_listing(run.failures())}\n\n{run.output}"
    )
    assert not run.leftovers, f"the tests of {kata.name} left behind: {run.leftovers}"


@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.name)
def test_the_stub_fails_every_test_with_notimplementederror(kata: Kata, tmp_path: Path) -> None:
    run = run_kata(tmp_path, kata, answer=None)
    assert run.outcomes, f"no test ran for {kata.name}:\n{run.output}"
    assert not run.leftovers, f"the tests of {kata.name} left behind: {run.leftovers}"
    vacuous = [o for o in run.outcomes if o.outcome not in ("failed", "error")]
    assert not vacuous, f"tests of {kata.name} that do not fail on its stub:\n{_listing(vacuous)}"
    unhelpful = [o for o in run.outcomes if "NotImplementedError" not in o.text]
    assert not unhelpful, (
        f"tests of {kata.name} failing on the stub for another reason than its "
        f"NotImplementedError (a learner could not tell what to write):\n{_listing(unhelpful)}"
    )


@pytest.mark.needs_solutions
@pytest.mark.parametrize(("kata", "decoy"), DECOYS, ids=[f"{k.name}/{d.stem}" for k, d in DECOYS])
def test_the_decoy_is_caught_and_its_mistake_named(kata: Kata, decoy: Path, tmp_path: Path) -> None:
    spec = read_decoy(decoy)
    assert "TODO" not in decoy.read_text("utf-8"), f"decoy {decoy.name} is not written yet (TODO)"
    assert spec.mistake and spec.caught_by and spec.says, (
        f"{decoy.name}: its docstring must state the mistake on the first line, then "
        "'caught by: <test name>' and 'says: <phrase the failure message contains>'"
    )
    # What a learner reads first is the first failure, in file order (-x stops there): it must
    # name this decoy's mistake and no other's. The stress step, which only asks whether decoys
    # are still caught under load, runs the named test alone (KATA_PROOF_DECOYS=named).
    first_failure = os.environ.get("KATA_PROOF_DECOYS") != "named"
    run = run_kata(tmp_path, kata, decoy, only="" if first_failure else spec.caught_by, stop=True)
    failures = run.failures()
    assert failures, f"decoy {decoy.name} ({spec.mistake}) passes every test:\n{run.output}"
    caught = failures[0]
    if caught.test != spec.caught_by:
        # An earlier test may catch it too, on some runs (a timing mistake of a few ms): fine
        # if its message names this mistake; and the test the decoy names must still catch it.
        assert spec.says.lower() in caught.text.lower(), (
            f"decoy {decoy.name} ({spec.mistake}) names {spec.caught_by}, but the first test it "
            f"fails is {caught.test}, whose message a learner reads first and which does not "
            f"say {spec.says!r}:\n{caught.text}"
        )
        named = run_kata(tmp_path / "named", kata, decoy, only=spec.caught_by).outcome_of(
            spec.caught_by
        )
        assert named.outcome in ("failed", "error"), (
            f"decoy {decoy.name} ({spec.mistake}) is not caught by {spec.caught_by}:\n{named.text}"
        )
    assert spec.says.lower() in caught.text.lower(), (
        f"{spec.caught_by} catches decoy {decoy.name} but its message does not say "
        f"{spec.says!r} (the mistake: {spec.mistake}). The message was:\n{caught.text}"
    )
    # A message that names a mistake the learner did not make is worse than none.
    others = [read_decoy(d) for d in kata.decoys if d != decoy]
    misnamed = [
        o
        for o in others
        if o.says
        and o.says.lower() not in spec.says.lower()
        and o.says.lower() in caught.text.lower()
    ]
    assert not misnamed, (
        f"{spec.caught_by} catches decoy {decoy.name} ({spec.mistake}) but its message also "
        f"names the mistake of {misnamed[0].path.name} ({misnamed[0].says!r}: "
        f"{misnamed[0].mistake}), which this answer did not make. The message was:\n{caught.text}"
    )


@pytest.mark.needs_solutions
@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.name)
def test_every_kata_has_three_decoys_or_more(kata: Kata) -> None:
    assert len(kata.decoys) >= 3, (
        f"{kata.name} has {len(kata.decoys)} decoys in tests/decoys/{kata.name}/; "
        "a kata needs at least three plausible wrong answers, each caught by its tests"
    )

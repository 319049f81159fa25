"""Line diffs cost bounded work whatever the input (issue 11, "Diffs").

difflib.SequenceMatcher took 14.7 s of one worker for one anonymous GET of a crafted 34 KB
pair. diffs.line_diff counts its work and takes a coarser path past its budget: the tests
count steps, never seconds (benchmarks/diff.py prints the time).
"""

import difflib
import random

import pytest

from messages_app import diffs
from tests.support.diff_inputs import CASES, HOSTILE

BODY_LIMIT = 262_144


def apply(opcodes, a: list[str], b: list[str]) -> list[str]:
    """Rebuild b from a and the opcodes, checking that every "equal" really is."""
    rebuilt: list[str] = []
    position_a = position_b = 0
    for tag, i1, i2, j1, j2 in opcodes:
        assert (i1, j1) == (position_a, position_b), "opcodes must cover both texts in order, without gaps"
        if tag == diffs.EQUAL:
            assert a[i1:i2] == b[j1:j2]
            rebuilt += a[i1:i2]
        else:
            assert tag in {diffs.REPLACE, diffs.DELETE, diffs.INSERT}
            assert (i2 > i1) == (tag != diffs.INSERT) and (j2 > j1) == (tag != diffs.DELETE)
            rebuilt += b[j1:j2]
        position_a, position_b = i2, j2
    assert (position_a, position_b) == (len(a), len(b))
    return rebuilt


def edit_count(opcodes) -> int:
    return sum((i2 - i1) + (j2 - j1) for tag, i1, i2, j1, j2 in opcodes if tag != diffs.EQUAL)


def shortest_edit_count(a: list[str], b: list[str]) -> int:
    """Lines removed plus lines added by a shortest edit script, from the longest common subsequence."""
    previous = [0] * (len(b) + 1)
    for line in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if line == other else max(previous[j + 1], current[j]))
        previous = current
    return len(a) + len(b) - 2 * previous[-1]


@pytest.mark.parametrize("seed", range(200))
def test_a_small_diff_is_a_shortest_edit_script_that_rebuilds_the_new_text(seed):
    generator = random.Random(seed)
    alphabet = generator.choice(["ab", "abc", "abcdefgh", "abcdefghijklmnopqrstuvwxyz"])
    a = [generator.choice(alphabet) for _ in range(generator.randint(0, 40))]
    b = [generator.choice(alphabet) for _ in range(generator.randint(0, 40))]
    result = diffs.line_diff(a, b)
    assert result.exact
    assert apply(result.opcodes, a, b) == b
    assert edit_count(result.opcodes) == shortest_edit_count(a, b)


def test_an_ordinary_edit_is_exact_and_names_only_the_changed_line():
    old, new = CASES["ordinary_edit"](34_000)
    a, b = old.splitlines(), new.splitlines()
    result = diffs.line_diff(a, b)
    assert result.exact
    assert [op for op in result.opcodes if op[0] != diffs.EQUAL] == [
        (diffs.REPLACE, len(a) // 2, len(a) // 2 + 1, len(a) // 2, len(a) // 2 + 1)
    ]
    assert result.steps < 100


def test_a_rewrite_of_every_line_costs_no_search():
    old, new = CASES["full_rewrite"](BODY_LIMIT)
    result = diffs.line_diff(old.splitlines(), new.splitlines())
    assert result.exact and result.steps == 0
    assert [op[0] for op in result.opcodes] == [diffs.REPLACE]


@pytest.mark.parametrize("size", [34_000, BODY_LIMIT])
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_pair_stays_within_the_budget_and_still_rebuilds_the_new_text(name, size):
    old, new = HOSTILE[name](size)
    assert len(old.encode()) <= size and len(new.encode()) <= size
    a, b = old.splitlines(), new.splitlines()
    result = diffs.line_diff(a, b)
    # At most one snake past the budget: the counted work is what the time is made of.
    assert result.steps <= diffs.STEP_BUDGET + len(a) + len(b)
    assert apply(result.opcodes, a, b) == b


def test_the_crafted_pair_that_stalled_difflib_gets_a_coarse_diff_said_so():
    old, new = HOSTILE["reversed_self_similar"](34_000)
    a, b = old.splitlines(), new.splitlines()
    result = diffs.line_diff(a, b)
    assert not result.exact
    assert apply(result.opcodes, a, b) == b


def test_a_coarse_diff_still_matches_the_unchanged_stretches_around_a_hard_one():
    # A hard middle (a reversed self-similar block) between long untouched paragraphs: the
    # budget runs out in the middle, and the paragraphs still show as unchanged.
    hard_old, hard_new = HOSTILE["popular_reversed"](30_000)
    before = [f"intro {n}" for n in range(300)]
    after = [f"outro {n}" for n in range(300)]
    a = before + hard_old.splitlines() + after
    b = before + [line + "!" for line in before[:5]] + hard_new.splitlines() + after
    result = diffs.line_diff(a, b, budget=20_000)
    assert not result.exact
    assert apply(result.opcodes, a, b) == b
    equal = sum(i2 - i1 for tag, i1, i2, _, _ in result.opcodes if tag == diffs.EQUAL)
    assert equal >= len(before) + len(after)


def test_grouped_opcodes_match_difflib_on_the_same_opcodes():
    generator = random.Random(7)
    a = [generator.choice("abcdefghij") for _ in range(300)]
    b = list(a)
    for _ in range(12):
        b[generator.randrange(len(b))] = "changed"
    opcodes = diffs.line_diff(a, b).opcodes
    matcher = difflib.SequenceMatcher(None, a, b)
    matcher.get_opcodes = lambda: opcodes  # difflib groups whatever opcodes it is given
    assert list(diffs.grouped_opcodes(opcodes, 3)) == list(matcher.get_grouped_opcodes(3))

"""Pairs of texts that make line diffs expensive, for the diff tests and benchmarks/diff.py.

Each function returns (old, new) of about ``size`` bytes of UTF-8, within the body limit.
"""

import random


def reversed_self_similar(size: int) -> tuple[str, str]:
    """Lines chosen so that line i of the old text equals line 2i of the new (the old reversed).

    difflib.SequenceMatcher then keeps finding one-line matches near the start of what is
    left, and recurses once per line over a range nearly as long: seconds at 32 KB, minutes
    at 256 KiB. Lines are short hex numbers, most of them repeated once or twice.
    """
    count = size // 4
    lines = _self_similar_lines(count)
    while len(_text(lines).encode()) > size:
        count -= max(1, count // 50)
        lines = _self_similar_lines(count)
    return _text(lines), _text(lines[::-1])


def _self_similar_lines(count: int) -> list[str]:
    parent = list(range(count))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    for index in range(count):
        mirrored = count - 1 - 2 * index
        if mirrored >= 0:
            parent[root(index)] = root(mirrored)
    names: dict[int, int] = {}
    return [f"{names.setdefault(root(index), len(names)):x}" for index in range(count)]


def popular_reversed(size: int, distinct: int = 300) -> tuple[str, str]:
    """A few hundred distinct short lines, each repeated as often as difflib still indexes it, then reversed."""
    repeats = 1
    while len(_text(_periodic(distinct, repeats + 1)).encode()) <= size:
        repeats += 1
    lines = _periodic(distinct, repeats)
    return _text(lines), _text(lines[::-1])


def _periodic(distinct: int, repeats: int) -> list[str]:
    return [f"line {number}" for _ in range(repeats) for number in range(distinct)]


def random_small_alphabet(size: int, seed: int = 1) -> tuple[str, str]:
    """Two unrelated random texts of two-byte lines drawn from eight: long edit distance everywhere."""
    generator = random.Random(seed)
    count = size // 2
    old = [generator.choice("abcdefgh") for _ in range(count)]
    new = [generator.choice("abcdefgh") for _ in range(count)]
    return _text(old), _text(new)


def full_rewrite(size: int) -> tuple[str, str]:
    """Every line replaced: no line of one text is in the other."""
    count = size // 10
    return _text([f"old {n:05x}" for n in range(count)]), _text([f"new {n:05x}" for n in range(count)])


def ordinary_edit(size: int) -> tuple[str, str]:
    """Not hostile: one line changed in the middle of a long text, the everyday case."""
    line = "Paragraph {:05d}: the minutes of the meeting, as agreed."
    lines = [line.format(n) for n in range(size // len(line.format(0) + "\n"))]
    edited = list(lines)
    edited[len(lines) // 2] = "Paragraph changed: the date moves to Friday."
    return _text(lines), _text(edited)


def _text(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


HOSTILE = {
    "reversed_self_similar": reversed_self_similar,
    "popular_reversed": popular_reversed,
    "random_small_alphabet": random_small_alphabet,
    "full_rewrite": full_rewrite,
}
CASES = {"ordinary_edit": ordinary_edit, **HOSTILE}

"""Line diffs whose work is bounded whatever the input: a shortest edit script when it is cheap
enough, a coarser comparison when it is not.

``difflib.SequenceMatcher`` is cubic on crafted input (a few hundred short lines, each repeated
just under its "popular" threshold, against the same lines reversed), so one page could keep a
worker busy for seconds or minutes. Here every step of the superlinear part is counted — each
diagonal Myers visits and each line pair a snake compares — and the search gives up once it has
spent its budget. Everything else is linear or n log n in the number of lines, which the body
size limit bounds. The budget is a count, not a clock, so a diff comes out the same on a busy
machine and a quiet one, and a cached diff never depends on the load it was computed under.

The exact path (Myers' O(ND) greedy algorithm, "An O(ND) Difference Algorithm and Its
Variations", 1986) finds a minimal edit script. When it runs out of budget, the coarse path
anchors the two versions on lines that occur exactly once in each (as patience diff does), diffs
each stretch between anchors exactly with a share of the budget left, and shows any stretch that
is still too dear as one block removed and added whole.
"""

from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from math import isqrt

# Steps one diff may take: a few tenths of a second of CPU on the machine the benchmark ran on
# (benchmarks/diff.py prints the figure for the worst cases; README "Performance").
STEP_BUDGET = 1_000_000

# Opcode tags, as difflib names them.
EQUAL, REPLACE, DELETE, INSERT = "equal", "replace", "delete", "insert"

Opcode = tuple[str, int, int, int, int]  # tag, i1, i2, j1, j2, as difflib's get_opcodes()
Block = tuple[int, int, int]  # a[i:i+size] == b[j:j+size]


@dataclass(frozen=True, slots=True)
class LineDiff:
    opcodes: list[Opcode]
    exact: bool  # a minimal edit script; False when the coarse path had to be taken
    steps: int  # work counted against the budget (diagonal visits plus line comparisons)
    budget: int

    @property
    def within_budget(self) -> bool:
        """Return whether the counted work stayed under the budget (at most one snake beyond it)."""
        return self.steps <= self.budget


def line_diff(a: Sequence[str], b: Sequence[str], *, budget: int = STEP_BUDGET) -> LineDiff:
    """Return opcodes turning lines ``a`` into lines ``b``, spending at most about ``budget`` steps."""
    n, m = len(a), len(b)
    prefix = 0
    while prefix < n and prefix < m and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < n - prefix and suffix < m - prefix and a[n - 1 - suffix] == b[m - 1 - suffix]:
        suffix += 1
    middle_a, middle_b = _as_numbers(a[prefix : n - suffix], b[prefix : m - suffix])
    blocks, exact, steps = _middle_blocks(middle_a, middle_b, budget)
    matched = [(0, 0, prefix)] if prefix else []
    matched += [(i + prefix, j + prefix, size) for i, j, size in blocks]
    if suffix:
        matched.append((n - suffix, m - suffix, suffix))
    return LineDiff(opcodes=opcodes_from_blocks(matched, n, m), exact=exact, steps=steps, budget=budget)


def _as_numbers(a: Sequence[str], b: Sequence[str]) -> tuple[list[int], list[int]]:
    """Number each distinct line, so comparisons are between small ints instead of strings."""
    numbers: dict[str, int] = {}
    a_numbers = [numbers.setdefault(line, len(numbers)) for line in a]
    b_numbers = [numbers.setdefault(line, len(numbers)) for line in b]
    return a_numbers, b_numbers


def _middle_blocks(a: list[int], b: list[int], budget: int) -> tuple[list[Block], bool, int]:
    """Return the matching blocks of a and b, whether they are a minimal script, and the steps spent."""
    if not a or not b:
        return [], True, 0
    # A line found on one side only is an edit in every script: leaving it out changes no
    # answer and makes rewrites (new lines everywhere) cheap.
    in_a, in_b = set(a), set(b)
    a_kept = [i for i, line in enumerate(a) if line in in_b]
    b_kept = [j for j, line in enumerate(b) if line in in_a]
    a_shared = [a[i] for i in a_kept]
    b_shared = [b[j] for j in b_kept]
    # Half the budget for the exact search; the coarse path, when needed, gets the other half.
    blocks, steps = _myers(a_shared, b_shared, budget // 2)
    exact = blocks is not None
    if blocks is None:
        blocks, coarse_steps = _anchored(a_shared, b_shared, budget - steps)
        steps += coarse_steps
    return _unfiltered(blocks, a_kept, b_kept), exact, steps


def _myers(a: Sequence[int], b: Sequence[int], budget: int) -> tuple[list[Block] | None, int]:
    """Return the matching blocks of a shortest edit script and the steps taken, or None past budget."""
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        return [], 0
    # Reaching edit distance d visits (d + 1)(d + 2) / 2 diagonals, so d stays under this.
    max_d = min(n + m, isqrt(2 * budget) + 1)
    offset = max_d + 1
    v = [0] * (2 * max_d + 3)  # v[offset + k]: furthest x reached on diagonal k = x - y
    # trace[d] holds v after round d for k = -d, -d + 2, …, d: (d + 1) ints, so the whole trace
    # is no bigger than the diagonal visits the budget allows.
    trace: list[array] = []
    steps = 0
    for d in range(max_d + 1):
        for k in range(-d, d + 1, 2):
            if k == -d or (k != d and v[offset + k - 1] < v[offset + k + 1]):
                x = v[offset + k + 1]
            else:
                x = v[offset + k - 1] + 1
            y = x - k
            start = x
            while x < n and y < m and a[x] == b[y]:
                x += 1
                y += 1
            v[offset + k] = x
            steps += 1 + x - start
            if x >= n and y >= m:
                return _myers_backtrack(trace, n, m), steps
            if steps > budget:
                return None, steps
        trace.append(array("i", v[offset - d : offset + d + 1 : 2]))
    return None, steps


def _myers_backtrack(trace: list[array], n: int, m: int) -> list[Block]:
    """Walk the recorded rounds back from (n, m) and return the snakes on the way, in order."""
    blocks: list[Block] = []
    x, y = n, m
    for d in range(len(trace), 0, -1):
        before = trace[d - 1]  # index of diagonal k in round d - 1 is (k + d - 1) // 2
        k = x - y
        if k == -d or (k != d and before[(k - 1 + d - 1) // 2] < before[(k + 1 + d - 1) // 2]):
            previous_k = k + 1  # a line of b inserted
            previous_x = before[(previous_k + d - 1) // 2]
            snake_x = previous_x
        else:
            previous_k = k - 1  # a line of a deleted
            previous_x = before[(previous_k + d - 1) // 2]
            snake_x = previous_x + 1
        if x > snake_x:
            blocks.append((snake_x, snake_x - k, x - snake_x))
        x, y = previous_x, previous_x - previous_k
    if x > 0:
        blocks.append((0, 0, x))
    blocks.reverse()
    return blocks


def _anchored(a: list[int], b: list[int], budget: int) -> tuple[list[Block], int]:
    """Return matching blocks through the lines found exactly once on each side, and the steps spent.

    The stretches between anchors are diffed exactly, each with a share of the budget in
    proportion to its size (what one leaves unspent passes to the next); a stretch whose share
    runs out matches nothing and shows as one block removed and added whole.
    """
    anchors = _longest_increasing_anchors(a, b)
    stretches = []
    i = j = 0
    for anchor_i, anchor_j in [*anchors, (len(a), len(b))]:
        stretches.append((i, anchor_i, j, anchor_j))
        i, j = anchor_i + 1, anchor_j + 1
    blocks: list[Block] = []
    steps = 0
    left = sum((i2 - i1) + (j2 - j1) for i1, i2, j1, j2 in stretches)
    for index, (i1, i2, j1, j2) in enumerate(stretches):
        size = (i2 - i1) + (j2 - j1)
        if size:
            share = (budget - steps) * size // left if budget > steps else 0
            left -= size
            found, spent = _myers(a[i1:i2], b[j1:j2], share)
            steps += spent
            if found:
                blocks += [(i + i1, j + j1, length) for i, j, length in found]
        if index < len(anchors):
            blocks.append((i2, j2, 1))
    return blocks, steps


def _longest_increasing_anchors(a: list[int], b: list[int]) -> list[tuple[int, int]]:
    """Return the longest run of lines unique on both sides that appears in the same order in each."""
    count_a, count_b = Counter(a), Counter(b)
    where_in_b = {line: j for j, line in enumerate(b) if count_b[line] == 1}
    pairs = [(i, where_in_b[line]) for i, line in enumerate(a) if count_a[line] == 1 and line in where_in_b]
    # Patience sorting: tails[t] is the smallest j ending an increasing run of length t + 1.
    tails: list[int] = []
    tail_pair: list[int] = []
    previous = [-1] * len(pairs)
    for index, (_, j) in enumerate(pairs):
        place = bisect_left(tails, j)
        if place == len(tails):
            tails.append(j)
            tail_pair.append(index)
        else:
            tails[place] = j
            tail_pair[place] = index
        previous[index] = tail_pair[place - 1] if place else -1
    run = []
    index = tail_pair[-1] if tail_pair else -1
    while index >= 0:
        run.append(pairs[index])
        index = previous[index]
    run.reverse()
    return run


def _unfiltered(blocks: list[Block], a_kept: list[int], b_kept: list[int]) -> list[Block]:
    """Map blocks of the lines kept back onto the lines they came from, splitting where some were left out."""
    if len(a_kept) == (a_kept[-1] + 1 if a_kept else 0) and len(b_kept) == (b_kept[-1] + 1 if b_kept else 0):
        return blocks  # nothing was left out
    mapped: list[Block] = []
    for i, j, size in blocks:
        start_i, start_j, length = a_kept[i], b_kept[j], 1
        for t in range(1, size):
            next_i, next_j = a_kept[i + t], b_kept[j + t]
            if next_i == start_i + length and next_j == start_j + length:
                length += 1
            else:
                mapped.append((start_i, start_j, length))
                start_i, start_j, length = next_i, next_j, 1
        mapped.append((start_i, start_j, length))
    return mapped


def opcodes_from_blocks(blocks: list[Block], n: int, m: int) -> list[Opcode]:
    """Return difflib-style opcodes for matching blocks given in order; adjacent blocks are merged."""
    opcodes: list[Opcode] = []
    i = j = 0
    for block_i, block_j, size in [*blocks, (n, m, 0)]:
        if block_i > i and block_j > j:
            opcodes.append((REPLACE, i, block_i, j, block_j))
        elif block_i > i:
            opcodes.append((DELETE, i, block_i, j, j))
        elif block_j > j:
            opcodes.append((INSERT, i, i, j, block_j))
        if size:
            if opcodes and opcodes[-1][0] == EQUAL:
                _tag, i1, _, j1, _ = opcodes.pop()
                opcodes.append((EQUAL, i1, block_i + size, j1, block_j + size))
            else:
                opcodes.append((EQUAL, block_i, block_i + size, block_j, block_j + size))
        i, j = block_i + size, block_j + size
    return opcodes


def grouped_opcodes(opcodes: list[Opcode], context: int) -> Iterator[list[Opcode]]:
    """Yield the changes with up to ``context`` unchanged lines around each, as difflib's get_grouped_opcodes."""
    codes = list(opcodes) or [(EQUAL, 0, 1, 0, 1)]
    if codes[0][0] == EQUAL:
        tag, i1, i2, j1, j2 = codes[0]
        codes[0] = (tag, max(i1, i2 - context), i2, max(j1, j2 - context), j2)
    if codes[-1][0] == EQUAL:
        tag, i1, i2, j1, j2 = codes[-1]
        codes[-1] = (tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context))
    group: list[Opcode] = []
    for tag, i1, i2, j1, j2 in codes:
        if tag == EQUAL and i2 - i1 > 2 * context:
            group.append((tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context)))
            yield group
            group = []
            i1, j1 = max(i1, i2 - context), max(j1, j2 - context)
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == EQUAL):
        yield group

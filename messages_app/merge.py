"""Three-way merge of prose by words, in bounded work: what a refused save offers instead of "start again".

When a save is refused because someone else saved first, the person's text ("mine") is merged
with the current version ("theirs") against the version they started from ("base"). Bodies are
prose, one long line per paragraph, so a line merge would conflict on nearly every pair of edits
to the same paragraph: the texts are cut into words, runs of whitespace and single punctuation
marks, and merged token by token.

Both diffs (base to mine, base to theirs) are ``diffs.line_diff`` over the tokens, which counts
its work and goes coarse past its budget; the two share one budget, so a merge of two crafted
256 KiB bodies spends no more diff steps than one diff page may. Everything else here is linear
in the number of tokens (or n log n). The merge itself is diff3 (Khanna, Kunal and Pierce, "A
formal investigation of diff3", 2007): where all three versions agree, that text stands; each
stretch between is taken from whichever side changed it, once if both changed it alike, and is
a conflict otherwise. One departure: when one side only changed whitespace in a stretch and
the other side's edits there touch other tokens, both are applied, so respacing a paragraph
does not conflict with edits of the words beside the spaces.

A conflict widens to the whole sentences it touches (see ``_widened``): a one-word conflict
("quick" / "slow" / "fast") cannot be judged without its sentence, and conflicting fragments of
one sentence are best decided together, as one sentence to pick or rewrite.
"""

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

from messages_app.diffs import EQUAL, STEP_BUDGET, Opcode, line_diff

# The two diffs of one merge share what one diff page may spend, so a refused save searches no
# more than a diff page does; tokenising, and the diffs' linear work on tokens (two to four
# times as many as lines), come on top: benchmarks/merge.py prints the whole.
MERGE_STEP_BUDGET = STEP_BUDGET

# A conflict widens to sentence boundaries; in text without any (one endless sentence, a list
# of words) it stops, after this many tokens of agreed text on each side, at the next space,
# and after twice as many anywhere: enough context to decide, without the whole paragraph.
WIDEN_LIMIT = 120

# Marks that end a sentence when a space or line break follows them…
_TERMINALS = frozenset(".!?…‼⁇⁈⁉。！？｡।॥؟")
# …and those that end one without a space, as Chinese and Japanese are written.
_UNSPACED_TERMINALS = frozenset("。！？｡")
# Closing quotes and brackets may stand between the mark that ends a sentence and the space.
_CLOSERS = frozenset("\"')]}»’”›」』）］｝〉》】〕")
_LINE_BREAK = re.compile(r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")

# Scripts written without spaces between words: each character is a token, so two people
# editing different words of one sentence merge as they would in English.
_UNSPACED = (
    r"\u0e00-\u0eff"  # Thai, Lao
    r"\u1000-\u109f"  # Myanmar
    r"\u1780-\u17ff"  # Khmer
    r"\u3040-\u30ff"  # Hiragana, Katakana
    r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    r"\uff66-\uff9f"  # halfwidth Katakana
    r"\U00020000-\U0003134f"  # CJK ideographs, supplementary planes
)


@dataclass(frozen=True, slots=True)
class Conflict:
    """A passage both sides changed differently, as the starting version, mine and theirs have it.

    Each is a piece of its own text: whole sentences, unless one runs past ``WIDEN_LIMIT``
    tokens; empty when that side deleted the passage.
    """

    base: str
    mine: str
    theirs: str


def _mine(conflict: Conflict) -> str:
    return conflict.mine


@dataclass(frozen=True, slots=True)
class TextMerge:
    """A merge: settled text and conflicts in order, and whether its diffs were minimal."""

    chunks: tuple[str | Conflict, ...]
    # Both diffs were minimal edit scripts. False when one went coarse past its budget: the
    # merge is still sound, but stretches a minimal diff would have matched may conflict.
    exact: bool
    steps: int = 0  # work counted against the budget by the two diffs

    @property
    def conflicts(self) -> list[Conflict]:
        return [chunk for chunk in self.chunks if isinstance(chunk, Conflict)]

    @property
    def clean(self) -> bool:
        """Return whether there is nothing to decide: every change of both sides is in the text."""
        return not any(isinstance(chunk, Conflict) for chunk in self.chunks)

    def text(self, choose: Callable[[Conflict], str] | None = None) -> str:
        """The merged text; each conflict replaced by choose(conflict), by default conflict.mine."""
        pick = choose or _mine
        return "".join(chunk if isinstance(chunk, str) else pick(chunk) for chunk in self.chunks)


def merge_text(base: str, mine: str, theirs: str, *, budget: int = MERGE_STEP_BUDGET) -> TextMerge:
    """Merge the changes base→mine and base→theirs, spending at most about ``budget`` diff steps.

    Works as well for a one-line subject as for a 256 KiB body.
    """
    if mine == theirs or theirs == base:
        return _unanimous(mine)
    if mine == base:
        return _unanimous(theirs)
    return _merge(base, mine, theirs, budget)


def tokens(text: str) -> list[str]:
    """Cut text into words, runs of whitespace and single marks; joined, they give back the text exactly.

    Combining marks stay with the letter before them and an emoji sequence (modifiers, joined
    people, flags) stays whole, so no merge splits what reads as one character.
    """
    return _token_pattern().findall(text)


@cache
def _token_pattern() -> re.Pattern[str]:
    # Python's \w leaves out combining marks (an "é" typed as "e" + U+0301, Indic vowel signs),
    # and re has no \p{M}: list them from the Unicode database once, on the first merge, rather
    # than on every import (a scan of the planes that hold them takes some 40 ms). The marks
    # outside the BMP get a class of their own: re then tests the BMP ones against a bitmap
    # instead of a list of ranges, which makes tokenising prose twice as fast.
    codes = [
        code
        for first, last in ((0x0300, 0x1EFFF), (0xE0100, 0xE01EF))
        for code in range(first, last + 1)
        if unicodedata.category(chr(code)).startswith("M")
    ]
    in_bmp, beyond = _ranges(code for code in codes if code <= 0xFFFF), _ranges(code for code in codes if code > 0xFFFF)
    mark = rf"(?:[{in_bmp}]|[{beyond}])"
    return re.compile(
        rf"[^\W{_UNSPACED}]+(?:(?:{mark}|[\u200c\u200d])+[^\W{_UNSPACED}]*)*"  # a word, marks and joiners in it
        r"|\s+"
        rf"|[{_UNSPACED}]{mark}*"
        r"|[\U0001f1e6-\U0001f1ff]{2}"  # a flag: two regional indicators
        # Anything else alone, with its marks, skin tone, tag letters, and what a joiner joins.
        rf"|[^\w\s](?:{mark}|[\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f]|\u200d[^\w\s]?)*"
    )


def _ranges(codes: Iterable[int]) -> str:
    """Return the code points, given in increasing order, as the inside of a regex character class."""
    parts: list[str] = []
    first = last = -2
    for code in [*codes, -2]:
        if code == last + 1:
            last = code
            continue
        if first >= 0:
            parts.append(f"{_escaped(first)}-{_escaped(last)}" if last > first else _escaped(first))
        first = last = code
    return "".join(parts)


def _escaped(code: int) -> str:
    return rf"\u{code:04x}" if code <= 0xFFFF else rf"\U{code:08x}"


def _unanimous(text: str) -> TextMerge:
    return TextMerge(chunks=(text,) if text else (), exact=True, steps=0)


# Kinds of region: all three versions agree; one text settled on (one side's, or both merged);
# a conflict.
_STABLE, _SETTLED, _CONFLICT = "stable", "settled", "conflict"

Cut = tuple[int, int, int]  # a position in the tokens of base, mine and theirs
Edit = tuple[int, int, int, int]  # base[i1:i2] becomes side[j1:j2]


class _Region(NamedTuple):
    """Tokens base[z1:z2], mine[a1:a2], theirs[c1:c2], and, when settled, the text they merge to."""

    kind: str
    z1: int
    z2: int
    a1: int
    a2: int
    c1: int
    c2: int
    text: str = ""


def _merge(base: str, mine: str, theirs: str, budget: int) -> TextMerge:
    """Merge by diff3 over tokens, whatever the three texts (no shortcut for equal ones)."""
    head, tail = _shared_ends(base, mine, theirs)
    middles = [text[head : len(text) - tail] for text in (base, mine, theirs)]
    base_tokens, mine_tokens, theirs_tokens = (tokens(text) for text in middles)
    # Half the budget for the first diff, and what it leaves for the second, so the merge is
    # bounded as a whole; an ordinary first diff leaves nearly all of it to a hard second one.
    to_mine = line_diff(base_tokens, mine_tokens, budget=budget // 2)
    to_theirs = line_diff(base_tokens, theirs_tokens, budget=max(0, budget - to_mine.steps))
    regions = _regions(base_tokens, mine_tokens, theirs_tokens, _blocks(to_mine.opcodes), _blocks(to_theirs.opcodes))
    chunks = _widened(regions, base_tokens, mine_tokens, theirs_tokens)
    return TextMerge(
        chunks=tuple(_chunks([base[:head], *chunks, base[len(base) - tail :]])),
        exact=to_mine.exact and to_theirs.exact,
        steps=to_mine.steps + to_theirs.steps,
    )


def _shared_ends(base: str, mine: str, theirs: str) -> tuple[int, int]:
    """Return how many characters at the start and at the end all three texts share, cut at line breaks.

    Most merges are of long bodies edited in a paragraph or two: leaving the paragraphs all
    three share out of the tokenising and the diffs makes those much cheaper. Each
    cut is at the edge of a run of whitespace holding a line break, on the side of the run
    away from the shared text: a place where tokens and sentences end whether the text is
    whole or not, so the merge comes out the same as on the whole texts.
    """
    texts = (base, mine, theirs)
    head = _shared_length(texts, lambda text, length: text[:length], min(map(len, texts)))
    cut = base.rfind("\n", 0, head)
    while cut > 0 and base[cut - 1].isspace():
        cut -= 1
    head = max(cut, 0)
    rests = [text[head:] for text in texts]
    tail = _shared_length(rests, lambda text, length: text[len(text) - length :], min(map(len, rests)))
    cut = base.find("\n", len(base) - tail) if tail else -1
    while 0 <= cut < len(base) and base[cut].isspace():
        cut += 1
    return head, len(base) - cut if cut >= 0 else 0


def _shared_length(texts: Sequence[str], end: Callable[[str, int], str], longest: int) -> int:
    """Return the longest length whose ends (prefixes or suffixes) of all texts are equal, by bisection.

    Each probe is a string comparison in C: some twenty of them over a 256 KiB body cost less
    than comparing it character by character in Python once.
    """
    low, high = 0, longest
    while low < high:
        middle = (low + high + 1) // 2
        first = end(texts[0], middle)
        if all(end(text, middle) == first for text in texts[1:]):
            low = middle
        else:
            high = middle - 1
    return low


def _blocks(opcodes: list[Opcode]) -> list[tuple[int, int, int]]:
    """Return the matching blocks (base start, side start, length) of a diff, in order."""
    return [(i1, j1, i2 - i1) for tag, i1, i2, j1, _j2 in opcodes if tag == EQUAL]


def _sync(
    mine_blocks: list[tuple[int, int, int]], theirs_blocks: list[tuple[int, int, int]]
) -> Iterator[tuple[int, int, int, int]]:
    """Yield (base start, base end, mine start, theirs start) of the stretches both diffs match."""
    i = j = 0
    while i < len(mine_blocks) and j < len(theirs_blocks):
        mine_z, mine_a, mine_size = mine_blocks[i]
        theirs_z, theirs_c, theirs_size = theirs_blocks[j]
        low, high = max(mine_z, theirs_z), min(mine_z + mine_size, theirs_z + theirs_size)
        if low < high:
            yield low, high, mine_a + low - mine_z, theirs_c + low - theirs_z
        if mine_z + mine_size < theirs_z + theirs_size:
            i += 1
        else:
            j += 1


def _regions(
    base: list[str],
    mine: list[str],
    theirs: list[str],
    mine_blocks: list[tuple[int, int, int]],
    theirs_blocks: list[tuple[int, int, int]],
) -> list[_Region]:
    """Return diff3's regions in order: the stretches all three share, and each one between, decided."""
    mine_edits, theirs_edits = _EditCursor(mine_blocks), _EditCursor(theirs_blocks)
    regions: list[_Region] = []
    z = a = c = 0
    end = (len(base), len(base), len(mine), len(theirs))
    for low, high, mine_at, theirs_at in [*_sync(mine_blocks, theirs_blocks), end]:
        if low > z or mine_at > a or theirs_at > c:
            regions.append(
                _decided(
                    base, mine, theirs, _Region(_CONFLICT, z, low, a, mine_at, c, theirs_at), mine_edits, theirs_edits
                )
            )
        if high > low:
            previous = regions[-1] if regions else None
            if previous and previous.kind == _STABLE and previous.z2 == low:
                # Blocks that meet with nothing between them: one stretch, so sentence ends
                # are looked for across the seam.
                regions[-1] = previous._replace(z2=high, a2=mine_at + high - low, c2=theirs_at + high - low)
            else:
                regions.append(
                    _Region(_STABLE, low, high, mine_at, mine_at + high - low, theirs_at, theirs_at + high - low)
                )
        z, a, c = high, mine_at + high - low, theirs_at + high - low
    return regions


def _decided(
    base: list[str],
    mine: list[str],
    theirs: list[str],
    region: _Region,
    mine_edits: "_EditCursor",
    theirs_edits: "_EditCursor",
) -> _Region:
    """Return the region settled on one text, or still a conflict: diff3's rule, and the whitespace exception."""
    was = base[region.z1 : region.z2]
    mine_part, theirs_part = mine[region.a1 : region.a2], theirs[region.c1 : region.c2]
    if mine_part == theirs_part or theirs_part == was:
        return region._replace(kind=_SETTLED, text="".join(mine_part))
    if mine_part == was:
        return region._replace(kind=_SETTLED, text="".join(theirs_part))
    mine_changes = mine_edits.within(region.z1, region.z2, region.a1, region.a2)
    theirs_changes = theirs_edits.within(region.z1, region.z2, region.c1, region.c2)
    if _whitespace_only(mine_changes, base, mine) or _whitespace_only(theirs_changes, base, theirs):
        merged = _both_applied(base, region.z1, region.z2, mine_changes, mine, theirs_changes, theirs)
        if merged is not None:
            return region._replace(kind=_SETTLED, text=merged)
    return region


class _EditCursor:
    """A side's edits within successive regions of base, read off its matching blocks in one pass."""

    def __init__(self, blocks: list[tuple[int, int, int]]) -> None:
        self.blocks = blocks
        self.next = 0  # the first block that may still reach a later region

    def within(self, z1: int, z2: int, j1: int, j2: int) -> list[Edit]:
        """Return the edits that turn base[z1:z2] into side[j1:j2], the regions being asked in order."""
        blocks = self.blocks
        while self.next < len(blocks) and blocks[self.next][0] + blocks[self.next][2] <= z1:
            self.next += 1
        edits: list[Edit] = []
        i, j = z1, j1
        index = self.next
        while index < len(blocks) and blocks[index][0] < z2:
            block_z, block_j, size = blocks[index]
            low, high = max(block_z, z1), min(block_z + size, z2)
            if low < high:
                if low > i or block_j + low - block_z > j:
                    edits.append((i, low, j, block_j + low - block_z))
                i, j = high, block_j + high - block_z
            index += 1
        if z2 > i or j2 > j:
            edits.append((i, z2, j, j2))
        return edits


def _whitespace_only(edits: list[Edit], base: list[str], side: list[str]) -> bool:
    return all(
        all(token.isspace() for token in base[i1:i2]) and all(token.isspace() for token in side[j1:j2])
        for i1, i2, j1, j2 in edits
    )


def _both_applied(
    base: list[str],
    z1: int,
    z2: int,
    mine_edits: list[Edit],
    mine: list[str],
    theirs_edits: list[Edit],
    theirs: list[str],
) -> str | None:
    """Return base[z1:z2] with both sides' edits applied, or None when two of them touch the same tokens.

    Two insertions at one place overlap too: which goes first is not for the merge to guess.
    """
    edits = sorted(
        [(i1, i2, mine, j1, j2) for i1, i2, j1, j2 in mine_edits]
        + [(i1, i2, theirs, j1, j2) for i1, i2, j1, j2 in theirs_edits],
        key=lambda edit: (edit[0], edit[1]),
    )
    parts: list[str] = []
    position = z1
    inserted_at = -1
    for i1, i2, side, j1, j2 in edits:
        if i1 < position or (i1 == i2 == inserted_at):
            return None
        parts += base[position:i1]
        parts += side[j1:j2]
        position = i2
        inserted_at = i1 if i1 == i2 else -1
    parts += base[position:z2]
    return "".join(parts)


def _widened(regions: list[_Region], base: list[str], mine: list[str], theirs: list[str]) -> list[str | Conflict]:
    """Return the merge as chunks, each conflict widened to the sentence boundaries around it.

    A boundary is a place all three texts agree on (inside a stable stretch) where each has a
    sentence end: the start or end of the text, either side of a line break, either side of the
    space after a mark that ends a sentence (closing quotes allowed between), or after a Chinese
    or Japanese full stop. Conflicts whose widened spans meet become one, so a sentence holds at
    most one conflict; regions settled cleanly inside a widened span become part of the conflict
    (each side as that text has it), since the sentence is decided as a whole. Each token is
    looked at a bounded number of times, so this is linear.
    """
    texts = (base, mine, theirs)
    out: list[str | tuple[Cut, Cut]] = []
    run: list[_Region] = []  # regions since the last conflict, not yet in out
    start: Cut | None = None  # start of the conflict being widened forward
    walked = 0  # tokens of agreed text passed looking for a boundary
    for region in regions:
        if start is not None:
            if region.kind == _STABLE:
                end = _first_cut(texts, region, walked)
                if end is not None:
                    out.append((start, end))
                    start = None
                    run = [_clipped(region, end[0], region.z2)]
                else:
                    walked += region.z2 - region.z1
            elif region.kind == _CONFLICT:
                walked = 0  # the limit counts from the nearest conflicting token
            continue
        if region.kind != _CONFLICT:
            run.append(region)
            continue
        walked = 0
        while run and start is None:
            last = run.pop()
            if last.kind == _STABLE:
                start = _last_cut(texts, last, walked)
                if start is not None:
                    run.append(_clipped(last, last.z1, start[0]))
                else:
                    walked += last.z2 - last.z1
        settled = "".join(_region_text(region, base) for region in run)
        run = []
        if settled:
            out.append(settled)
        elif out and isinstance(out[-1], tuple):
            start = out.pop()[0]  # nothing between this conflict and the last: one conflict
        elif start is None:
            start = (0, 0, 0)
        walked = 0
    if start is not None:
        out.append((start, (len(base), len(mine), len(theirs))))
    out.append("".join(_region_text(region, base) for region in run))
    return _chunks(out, texts)


def _chunks(out: Sequence[str | Conflict | tuple[Cut, Cut]], texts: tuple[list[str], ...] = ()) -> list[str | Conflict]:
    """Turn spans of the texts' tokens into conflicts, and join neighbouring settled text."""
    chunks: list[str | Conflict] = []
    for piece in out:
        if isinstance(piece, tuple):
            (z1, a1, c1), (z2, a2, c2) = piece
            base, mine, theirs = (
                "".join(texts[n][low:high]) for n, low, high in ((0, z1, z2), (1, a1, a2), (2, c1, c2))
            )
            piece = mine if mine == theirs else Conflict(base=base, mine=mine, theirs=theirs)
        if isinstance(piece, str):
            if not piece:
                continue
            if chunks and isinstance(chunks[-1], str):
                piece = chunks.pop() + piece
        chunks.append(piece)
    return chunks


def _region_text(region: _Region, base: list[str]) -> str:
    return "".join(base[region.z1 : region.z2]) if region.kind == _STABLE else region.text


def _clipped(region: _Region, z1: int, z2: int) -> _Region:
    """Return the part base[z1:z2] of a stable region, with the same stretch of mine and theirs."""
    return region._replace(
        z1=z1,
        z2=z2,
        a1=region.a1 + z1 - region.z1,
        a2=region.a1 + z2 - region.z1,
        c1=region.c1 + z1 - region.z1,
        c2=region.c1 + z2 - region.z1,
    )


def _first_cut(texts: tuple[list[str], ...], region: _Region, walked: int) -> Cut | None:
    """Return the first boundary in a stable region, or None."""
    for offset in range(region.z2 - region.z1 + 1):
        cut = (region.z1 + offset, region.a1 + offset, region.c1 + offset)
        if _is_boundary(texts, cut, walked + offset, forward=True):
            return cut
    return None


def _last_cut(texts: tuple[list[str], ...], region: _Region, walked: int) -> Cut | None:
    """Return the last boundary in a stable region, or None."""
    for offset in range(region.z2 - region.z1, -1, -1):
        cut = (region.z1 + offset, region.a1 + offset, region.c1 + offset)
        if _is_boundary(texts, cut, walked + region.z2 - region.z1 - offset, forward=False):
            return cut
    return None


def _is_boundary(texts: tuple[list[str], ...], cut: Cut, walked: int, *, forward: bool) -> bool:
    # Asked of all three texts, not only base: next to a settled region the tokens around the
    # same place differ (mine may end its sentence with "!" where base has ",").
    return all(_sentence_edge(text, position, walked, forward) for text, position in zip(texts, cut, strict=True))


def _sentence_edge(text: Sequence[str], position: int, walked: int, forward: bool) -> bool:
    """Return whether a sentence starts or ends at this place in the tokens (see ``_widened``).

    Past ``WIDEN_LIMIT`` tokens of search (``walked``) a space will do, such that the conflict
    starts (``forward`` False) or ends (True) with a whole word, the space left outside; past
    twice that, where there are no spaces (Chinese, Japanese), any place will.
    """
    if position == 0 or position == len(text):
        return True
    before, after = text[position - 1], text[position]
    if walked >= WIDEN_LIMIT and (after if forward else before).isspace():
        return True
    if before.isspace():
        return bool(_LINE_BREAK.search(before)) or _ends_sentence(text, position - 1, _TERMINALS)
    if after.isspace():
        return bool(_LINE_BREAK.search(after)) or _ends_sentence(text, position, _TERMINALS)
    return _ends_sentence(text, position, _UNSPACED_TERMINALS) or walked >= 2 * WIDEN_LIMIT


def _ends_sentence(text: Sequence[str], position: int, terminals: frozenset[str]) -> bool:
    """Return whether the tokens just before position end a sentence, closing quotes and brackets allowed."""
    index = position - 1
    while index >= 0 and text[index][0] in _CLOSERS and position - index <= 3:
        index -= 1
    return index >= 0 and text[index][0] in terminals

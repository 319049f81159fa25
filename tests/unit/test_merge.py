"""Three-way merges of prose by words (messages_app.merge): what a refused save offers.

merge_text is a plain function: no database. The hostile inputs count diff steps, never
seconds (benchmarks/merge.py prints the time).
"""

import random

import pytest

from messages_app import merge
from messages_app.merge import Conflict, TextMerge, merge_text
from tests.support.diff_inputs import CASES, HOSTILE

BODY_LIMIT = 262_144

PARAGRAPH = "The board meets on Friday at noon. Minutes go out the next day. Anyone may add an item."
SECOND = "Bring your own lunch. The room is on the second floor."
THIRD = "Questions go to the secretary."
THREE = f"{PARAGRAPH}\n\n{SECOND}\n\n{THIRD}"
REST = " Minutes go out the next day. Anyone may add an item."


def swapped(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


# (base, mine, theirs, the chunks of the merge)
REAL_CASES = {
    "both edit different sentences of one paragraph": (
        PARAGRAPH,
        swapped(PARAGRAPH, ("Friday", "Monday")),
        swapped(PARAGRAPH, ("Anyone", "Every member")),
        ("The board meets on Monday at noon. Minutes go out the next day. Every member may add an item.",),
    ),
    "both edit the same word differently": (
        PARAGRAPH,
        swapped(PARAGRAPH, ("Friday", "Monday")),
        swapped(PARAGRAPH, ("Friday", "Tuesday")),
        (
            Conflict(
                base="The board meets on Friday at noon.",
                mine="The board meets on Monday at noon.",
                theirs="The board meets on Tuesday at noon.",
            ),
            REST,
        ),
    ),
    "both make the same edit, and theirs one more": (
        PARAGRAPH,
        swapped(PARAGRAPH, ("Friday", "Monday")),
        swapped(PARAGRAPH, ("Friday", "Monday"), ("next day", "same day")),
        ("The board meets on Monday at noon. Minutes go out the same day. Anyone may add an item.",),
    ),
    "mine deletes a paragraph that theirs edits": (
        THREE,
        f"{PARAGRAPH}\n\n{THIRD}",
        swapped(THREE, ("own lunch", "own sandwiches")),
        (
            f"{PARAGRAPH}\n\n",
            Conflict(base=f"{SECOND}\n\n", mine="", theirs=swapped(f"{SECOND}\n\n", ("own lunch", "own sandwiches"))),
            THIRD,
        ),
    ),
    "theirs deletes a paragraph that mine edits": (
        THREE,
        swapped(THREE, ("second floor", "third floor")),
        f"{PARAGRAPH}\n\n{THIRD}",
        (
            f"{PARAGRAPH}\n\n",
            Conflict(base=f"{SECOND}\n\n", mine=swapped(f"{SECOND}\n\n", ("second", "third")), theirs=""),
            THIRD,
        ),
    ),
    "mine changes only whitespace, theirs the words right beside it": (
        THREE,
        THREE.replace(". ", ".  ").replace("\n\n", "\n \n") + "\n",
        swapped(THREE, ("Minutes", "Notes"), ("Bring", "Carry"), ("secretary.", "chair.")),
        (
            "The board meets on Friday at noon.  Notes go out the next day.  Anyone may add an item.\n \n"
            "Carry your own lunch.  The room is on the second floor.\n \nQuestions go to the chair.\n",
        ),
    ),
    "edits at the very start and the very end": (
        PARAGRAPH,
        swapped(PARAGRAPH, ("The board", "Our board")),
        swapped(PARAGRAPH, ("an item.", "an item!")),
        ("Our board meets on Friday at noon. Minutes go out the next day. Anyone may add an item!",),
    ),
    "mine appends a paragraph while theirs edits the first": (
        PARAGRAPH,
        f"{PARAGRAPH}\n\n{SECOND}",
        swapped(PARAGRAPH, ("at noon", "at ten")),
        (f"{swapped(PARAGRAPH, ('at noon', 'at ten'))}\n\n{SECOND}",),
    ),
    "both append different paragraphs": (
        PARAGRAPH,
        f"{PARAGRAPH}\n\n{SECOND}",
        f"{PARAGRAPH}\n\n{THIRD}",
        (PARAGRAPH, Conflict(base="", mine=f"\n\n{SECOND}", theirs=f"\n\n{THIRD}")),
    ),
    "empty base, both write something": (
        "",
        "Hello all.",
        "Hi.",
        (Conflict(base="", mine="Hello all.", theirs="Hi."),),
    ),
    "empty base, only theirs writes": ("", "", "Hi.", ("Hi.",)),
    "a one-line subject, edited at both ends": (
        "Meeting on Friday",
        "Board meeting on Friday",
        "Meeting on Monday",
        ("Board meeting on Monday",),
    ),
    "a one-line subject, the same word changed by both": (
        "Meeting on Friday",
        "Meeting on Monday",
        "Meeting on Friday at noon",
        (Conflict(base="Meeting on Friday", mine="Meeting on Monday", theirs="Meeting on Friday at noon"),),
    ),
    "accents and emoji": (
        "Le café est fermé. On se voit à midi 👍🏽. À demain !",
        "Le thé est fermé. On se voit à midi 👍🏽. À demain !",
        "Le café est fermé. On se voit à midi 🎉. À bientôt !",
        ("Le thé est fermé. On se voit à midi 🎉. À bientôt !",),
    ),
    "Japanese: two words of one sentence, written without spaces": (
        "会議は金曜日です。議事録は翌日に送ります。",
        "会議は月曜日です。議事録は翌日に送ります。",
        "会議は金曜日です。議事録は当日に送ります。",
        ("会議は月曜日です。議事録は当日に送ります。",),
    ),
    "Japanese: one word changed by both, the conflict is its sentence": (
        "会議は金曜日です。議事録は翌日に送ります。",
        "会議は月曜日です。議事録は翌日に送ります。",
        "会議は火曜日です。議事録は翌日に送ります。",
        (
            Conflict(base="会議は金曜日です。", mine="会議は月曜日です。", theirs="会議は火曜日です。"),
            "議事録は翌日に送ります。",
        ),
    ),
    "Chinese and a combining accent in one paragraph": (
        "我们周五开会。Cafe\u0301 au lait for everyone.",
        "我们周一开会。Cafe\u0301 au lait for everyone.",
        "我们周五开会。The\u0301 au lait for everyone.",
        ("我们周一开会。The\u0301 au lait for everyone.",),
    ),
}


@pytest.mark.parametrize("case", REAL_CASES, ids=list(REAL_CASES))
def test_a_real_case_merges_to_the_expected_text_and_conflicts(case):
    base, mine, theirs, chunks = REAL_CASES[case]
    result = merge_text(base, mine, theirs)
    assert result.chunks == chunks
    assert result.exact
    assert result.clean == (not result.conflicts) == all(isinstance(chunk, str) for chunk in chunks)
    assert_well_formed(result, base, mine, theirs)


def test_text_takes_mine_for_each_conflict_unless_told_otherwise():
    base, mine, theirs, _chunks = REAL_CASES["both edit the same word differently"]
    result = merge_text(base, mine, theirs)
    assert result.text() == mine
    assert result.text(lambda conflict: conflict.theirs) == theirs
    assert result.text(lambda conflict: conflict.base) == base
    assert result.text(lambda conflict: "We do not meet.") == "We do not meet." + REST


def test_two_conflicts_in_one_sentence_are_one_conflict():
    result = merge_text(
        PARAGRAPH,
        swapped(PARAGRAPH, ("Friday", "Monday"), ("noon", "ten")),
        swapped(PARAGRAPH, ("Friday", "Tuesday"), ("noon", "one")),
    )
    assert result.chunks == (
        Conflict(
            base="The board meets on Friday at noon.",
            mine="The board meets on Monday at ten.",
            theirs="The board meets on Tuesday at one.",
        ),
        REST,
    )


def test_a_clean_edit_in_a_conflicting_sentence_is_decided_with_that_sentence():
    # "board" → "committee" alone would merge, but it is in the sentence the user must decide:
    # each side shows the sentence as that side wrote it.
    result = merge_text(
        PARAGRAPH,
        swapped(PARAGRAPH, ("board", "committee"), ("Friday", "Monday")),
        swapped(PARAGRAPH, ("Friday", "Tuesday"), ("next day", "same day")),
    )
    assert result.chunks == (
        Conflict(
            base="The board meets on Friday at noon.",
            mine="The committee meets on Monday at noon.",
            theirs="The board meets on Tuesday at noon.",
        ),
        " Minutes go out the same day. Anyone may add an item.",
    )


def test_conflicts_in_different_sentences_stay_apart():
    result = merge_text(
        PARAGRAPH,
        swapped(PARAGRAPH, ("Friday", "Monday"), ("an item", "a topic")),
        swapped(PARAGRAPH, ("Friday", "Tuesday"), ("an item", "two items")),
    )
    assert result.chunks == (
        Conflict(
            base="The board meets on Friday at noon.",
            mine="The board meets on Monday at noon.",
            theirs="The board meets on Tuesday at noon.",
        ),
        " Minutes go out the next day. ",
        Conflict(base="Anyone may add an item.", mine="Anyone may add a topic.", theirs="Anyone may add two items."),
    )


def test_a_sentence_ends_after_its_closing_quote():
    base = 'She wrote "We agree." Then she left.'
    result = merge_text(base, base.replace("agree", "accept"), base.replace("agree", "concur"))
    assert result.chunks == (
        Conflict(base='She wrote "We agree."', mine='She wrote "We accept."', theirs='She wrote "We concur."'),
        " Then she left.",
    )


def test_a_number_with_a_decimal_point_does_not_end_a_sentence():
    base = "The fee rises to 3.50 from May. Nothing else changes."
    result = merge_text(base, base.replace("3.50", "3.75"), base.replace("3.50", "4.00"))
    assert result.chunks == (
        Conflict(
            base="The fee rises to 3.50 from May.",
            mine="The fee rises to 3.75 from May.",
            theirs="The fee rises to 4.00 from May.",
        ),
        " Nothing else changes.",
    )


def test_a_conflict_in_a_sentence_without_an_end_stops_at_a_word_near_the_limit():
    words = [f"w{n}" for n in range(2000)]
    base = " ".join(words)
    result = merge_text(base, base.replace(" w1000 ", " mine "), base.replace(" w1000 ", " theirs "))
    (conflict,) = result.conflicts
    conflict_words = conflict.base.split(" ")
    # About WIDEN_LIMIT tokens (half of them spaces) either side, starting and ending with a word.
    assert merge.WIDEN_LIMIT // 2 <= conflict_words.index("w1000") <= merge.WIDEN_LIMIT // 2 + 1
    assert (
        merge.WIDEN_LIMIT // 2 <= len(conflict_words) - 1 - conflict_words.index("w1000") <= merge.WIDEN_LIMIT // 2 + 1
    )
    assert conflict.base == conflict.base.strip() and conflict.mine == conflict.base.replace("w1000", "mine")
    assert result.text() == base.replace(" w1000 ", " mine ")


def test_the_same_edit_by_both_is_taken_once():
    base = PARAGRAPH
    edited = swapped(PARAGRAPH, ("Anyone", "Everyone"))
    result = merge.merge_text(base, swapped(edited, ("noon", "ten")), edited)
    assert result.chunks == (swapped(edited, ("noon", "ten")),)


def test_fast_paths_spend_no_steps_and_are_exact():
    for base, mine, theirs, text in (
        ("a", "b", "b", "b"),
        ("a", "a", "b", "b"),
        ("a", "b", "a", "b"),
        ("a", "", "a", ""),
        ("", "", "", ""),
    ):
        result = merge_text(base, mine, theirs)
        assert result == TextMerge(chunks=(text,) if text else (), exact=True, steps=0)
        assert result.text() == text and result.clean


def test_tokens_join_back_to_the_text_exactly_whatever_the_characters():
    generator = random.Random(5)
    alphabet = (
        "ab Z9_ \t\n\r.,!?'\"-é\u0301\u0308ß日本語。！ก\u0e34\u200d\u200c👍🏽🏿🇫🇷👨👩\ufe0f\u20e3"
        "\U000e0067\x00\x1f\u2028\U0001d400\U00020000"
    )
    for _ in range(500):
        text = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 40)))
        assert "".join(merge.tokens(text)) == text


def test_a_word_keeps_its_marks_an_emoji_stays_whole_and_ideographs_stand_alone():
    assert merge.tokens("Cafe\u0301 नमस्ते  👨\u200d👩\u200d👧 👍🏽🇫🇷. 日本語。") == [
        "Cafe\u0301",
        " ",
        "नमस्ते",
        "  ",
        "👨\u200d👩\u200d👧",
        " ",
        "👍🏽",
        "🇫🇷",
        ".",
        " ",
        "日",
        "本",
        "語",
        "。",
    ]


# Generated prose: paragraphs of sentences of words; a sentence is (words, the mark that ends it).
VOCABULARY = (
    *("the", "a", "board", "meeting", "minutes", "agreed", "member", "post", "reply", "thread", "version", "draft"),
    *("friday", "monday", "noon", "report", "budget", "plan", "note", "idea", "room", "floor", "lunch", "item", "day"),
    *("next", "same"),
)
Sentence = tuple[list[str], str]


def generated_prose(generator: random.Random) -> list[list[Sentence]]:
    return [
        [
            ([generator.choice(VOCABULARY) for _ in range(generator.randint(1, 9))], generator.choice(".!?"))
            for _ in range(generator.randint(1, 5))
        ]
        for _ in range(generator.randint(1, 4))
    ]


def rendered(paragraphs: list[list[Sentence]]) -> str:
    return "\n\n".join(
        " ".join(" ".join([words[0].capitalize(), *words[1:]]) + end for words, end in paragraph if words)
        for paragraph in paragraphs
    )


def edited_sentence(generator: random.Random, sentence: Sentence, new_word: str) -> Sentence:
    """Return the sentence with one word replaced, inserted or removed, or its end mark changed."""
    words, end = list(sentence[0]), sentence[1]
    where = generator.randrange(len(words))
    kind = generator.choice(["replace", "insert", "delete", "end"] if len(words) > 1 else ["replace", "insert", "end"])
    if kind == "replace":
        words[where] = new_word
    elif kind == "insert":
        words.insert(where + generator.randint(0, 1), new_word)
    elif kind == "delete":
        del words[where]
    else:
        end = {".": "!", "!": "?", "?": "."}[end]
    return words, end


def with_sentence(paragraphs: list[list[Sentence]], index: int, sentence: Sentence) -> list[list[Sentence]]:
    flat = [len(paragraph) for paragraph in paragraphs]
    copy = [list(paragraph) for paragraph in paragraphs]
    for number, count in enumerate(flat):
        if index < count:
            copy[number][index] = sentence
            return copy
        index -= count
    raise IndexError(index)


def sentence_at(paragraphs: list[list[Sentence]], index: int) -> Sentence:
    return [sentence for paragraph in paragraphs for sentence in paragraph][index]


@pytest.mark.parametrize("seed", range(200))
def test_edits_in_different_sentences_always_merge_cleanly_and_both_are_kept(seed):
    generator = random.Random(seed)
    paragraphs = generated_prose(generator)
    while sum(map(len, paragraphs)) < 2:
        paragraphs = generated_prose(generator)
    first, second = generator.sample(range(sum(map(len, paragraphs))), 2)
    mine_sentence = edited_sentence(generator, sentence_at(paragraphs, first), "mineword")
    theirs_sentence = edited_sentence(generator, sentence_at(paragraphs, second), "theirsword")
    mine = with_sentence(paragraphs, first, mine_sentence)
    theirs = with_sentence(paragraphs, second, theirs_sentence)
    both = with_sentence(mine, second, theirs_sentence)
    result = merge_text(rendered(paragraphs), rendered(mine), rendered(theirs))
    assert result.clean, result.conflicts
    assert result.text() == rendered(both)
    assert result.exact


def randomly_edited(generator: random.Random, paragraphs: list[list[Sentence]]) -> str:
    """Return the prose after a few edits of any kind, anywhere: words, sentences, paragraphs, spacing."""
    paragraphs = [list(paragraph) for paragraph in paragraphs]
    for _ in range(generator.randint(1, 4)):
        kind = generator.choice(["sentence", "sentence", "drop sentence", "drop paragraph", "add paragraph"])
        number = generator.randrange(len(paragraphs))
        if kind == "sentence" and paragraphs[number]:
            index = generator.randrange(len(paragraphs[number]))
            paragraphs[number][index] = edited_sentence(
                generator, paragraphs[number][index], generator.choice([*VOCABULARY, "new", "other"])
            )
        elif kind == "drop sentence" and len(paragraphs[number]) > 1:
            del paragraphs[number][generator.randrange(len(paragraphs[number]))]
        elif kind == "drop paragraph" and len(paragraphs) > 1:
            del paragraphs[number]
        elif kind == "add paragraph":
            paragraphs.insert(generator.randint(0, len(paragraphs)), generated_prose(generator)[0])
    text = rendered(paragraphs)
    if generator.random() < 0.3:
        text = text.replace(". ", ".  ") if generator.random() < 0.5 else text + "\n"
    return text


def assert_well_formed(result: TextMerge, base: str, mine: str, theirs: str) -> None:
    """Each conflict is a real disagreement and a piece of each text; the settled text surrounds them in order."""
    for conflict in result.conflicts:
        assert conflict.mine != conflict.theirs
        assert conflict.base in base and conflict.mine in mine and conflict.theirs in theirs
    assert all(chunk for chunk in result.chunks)
    assert not any(
        isinstance(a, str) and isinstance(b, str) for a, b in zip(result.chunks, result.chunks[1:], strict=False)
    )


@pytest.mark.parametrize("seed", range(200))
def test_identities_hold_for_any_edits_with_and_without_the_shortcuts(seed):
    generator = random.Random(1000 + seed)
    paragraphs = generated_prose(generator)
    base, mine, theirs = (
        rendered(paragraphs),
        randomly_edited(generator, paragraphs),
        randomly_edited(generator, paragraphs),
    )
    # merge._merge is merge_text without its shortcuts for equal texts: the identities must
    # follow from diff3 itself, not only from the shortcuts.
    for merged in (merge_text, lambda b, m, t: merge._merge(b, m, t, merge.MERGE_STEP_BUDGET)):
        assert merged(base, mine, base).text() == mine
        assert merged(base, base, theirs).text() == theirs
        assert merged(base, mine, mine).text() == mine
        only_mine = merged(base, mine, base)
        assert only_mine.clean and only_mine.text(lambda conflict: conflict.mine) == mine
        result = merged(base, mine, theirs)
        assert_well_formed(result, base, mine, theirs)
        # diff3 is symmetric: swap the sides and each conflict's choice swaps with them.
        assert merged(base, theirs, mine).text(lambda conflict: conflict.theirs) == result.text()
        assert merged(base, theirs, mine).conflicts == [
            Conflict(base=conflict.base, mine=conflict.theirs, theirs=conflict.mine) for conflict in result.conflicts
        ]


def test_leaving_out_the_paragraphs_all_three_share_changes_no_merge(monkeypatch):
    generator = random.Random(11)
    triples = []
    for _ in range(200):
        paragraphs = generated_prose(generator)
        base = rendered(paragraphs)
        triples.append((base, randomly_edited(generator, paragraphs), randomly_edited(generator, paragraphs)))
    budget = merge.MERGE_STEP_BUDGET
    trimmed = [merge._merge(*triple, budget) for triple in triples]
    monkeypatch.setattr(merge, "_shared_ends", lambda base, mine, theirs: (0, 0))
    assert [merge._merge(*triple, budget) for triple in triples] == trimmed


def test_a_merge_past_its_budget_is_coarse_says_so_and_keeps_the_identities():
    generator = random.Random(3)
    base = rendered([generated_prose(generator)[0] for _ in range(30)])
    mine = "Preface. " + base.replace("Friday", "Saturday") + "\n\nThe end."
    theirs = "Foreword! " + base[: len(base) // 2] + " Inserted. " + base[len(base) // 2 :]
    result = merge_text(base, mine, theirs, budget=50)
    assert not result.exact
    assert_well_formed(result, base, mine, theirs)
    for b, m, t in ((base, mine, base), (base, base, theirs), (base, mine, mine)):
        coarse = merge._merge(b, m, t, 50)
        assert coarse.clean and coarse.text() == (t if m == b else m)


def hostile_triples(name: str, size: int) -> dict[str, tuple[str, str, str]]:
    """Base, mine and theirs from a crafted pair: one side or both hard to diff, at the given size."""
    old, new = HOSTILE[name](size)
    other = CASES["ordinary_edit"](size)[1] if name != "ordinary_edit" else new[::-1]
    # Within the body limit still: the same length, the last characters cut (one more edit).
    edited = ("Preface. " + old[: len(old) // 2] + "A line in the middle.\n" + old[len(old) // 2 :])[: len(old)]
    return {
        "mine hard, theirs ordinary": (old, new, edited),
        "both hard": (old, new, other),
    }


@pytest.mark.parametrize("size", [34_000, BODY_LIMIT])
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_merge_of_crafted_texts_stays_within_its_budget_and_keeps_the_identities(name, size):
    budget = merge.MERGE_STEP_BUDGET
    for base, mine, theirs in hostile_triples(name, size).values():
        assert max(len(text.encode()) for text in (base, mine, theirs)) <= BODY_LIMIT
        lengths = [len(merge.tokens(text)) for text in (base, mine, theirs)]
        result = merge_text(base, mine, theirs)
        # Each diff at most one snake past its share, as diffs.line_diff promises.
        assert result.steps <= budget + 2 * lengths[0] + lengths[1] + lengths[2]
        assert_well_formed(result, base, mine, theirs)
    base, mine, _theirs = hostile_triples(name, size)["mine hard, theirs ordinary"]
    for theirs, expected in ((base, mine), (mine, mine)):
        result = merge._merge(base, mine, theirs, budget)
        assert result.steps <= budget + 2 * len(merge.tokens(base)) + 2 * len(merge.tokens(mine))
        assert result.clean and result.text() == expected

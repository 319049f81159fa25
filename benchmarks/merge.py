"""Three-way merges of prose (messages_app.merge): CPU, diff steps and memory per merge.

    .venv/bin/python benchmarks/merge.py [--rounds 5]

For bodies of 34 KB and of the 256 KiB limit: ordinary cases (two people editing different
paragraphs; different sentences of one paragraph; the same word, a conflict) and the crafted
pairs of tests/support/diff_inputs.py as base and mine, against theirs an ordinary edit of the
base ("mine hard") or another long text ("both hard"). In alternating rounds it times one
merge_text and, as the baseline measured in the same run, the two diffs a line merge of the
same texts would take (diffs.line_diff on the lines, the budget split the same way). It prints
median CPU seconds of each, the diff steps the merge spent, whether both its diffs were exact,
its conflicts, and the process's peak resident memory during the merge (resource.getrusage,
after benchmarks/diff.py's reset of the peak, which getrusage reads on Linux): the texts of every
case are held all along, so it is an upper bound on what one merge needs.
"""

import argparse
import random
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = (34_000, 262_144)
WORDS = (
    *("the", "board", "meeting", "minutes", "agreed", "member", "post", "reply", "thread", "version", "draft"),
    *("friday", "monday", "noon", "report", "budget", "plan", "note", "idea", "room", "floor", "lunch", "item"),
    *("day", "next", "same", "question", "answer", "secretary", "chair", "vote", "motion", "second"),
)


def prose(size: int, seed: int = 1) -> list[list[str]]:
    """Paragraphs of sentences of about ``size`` bytes in all, as a message body is written."""
    generator = random.Random(seed)
    paragraphs: list[list[str]] = []
    total = 0
    while True:
        paragraph = []
        for _ in range(generator.randint(2, 7)):
            words = [generator.choice(WORDS) for _ in range(generator.randint(5, 18))]
            paragraph.append(" ".join([words[0].capitalize(), *words[1:]]) + generator.choice(".!?"))
        total += len(" ".join(paragraph)) + 2
        if total > size:
            return paragraphs
        paragraphs.append(paragraph)


def joined(paragraphs: list[list[str]]) -> str:
    return "\n\n".join(" ".join(paragraph) for paragraph in paragraphs)


def edited(paragraphs: list[list[str]], paragraph: int, sentence: int, old: str, new: str) -> str:
    copy = [list(sentences) for sentences in paragraphs]
    text = copy[paragraph][sentence]
    copy[paragraph][sentence] = text.replace(old, new, 1) if old in text else f"{text[:-1]} {new}{text[-1]}"
    return joined(copy)


def cases(size: int) -> dict[str, tuple[str, str, str]]:
    from tests.support.diff_inputs import CASES, HOSTILE

    body = prose(size)
    middle = len(body) // 2
    first_word = body[middle][0].split()[1]
    found = {
        "different paragraphs": (
            joined(body),
            edited(body, len(body) // 10, 0, first_word, "Tuesday"),
            edited(body, len(body) * 9 // 10, 1, first_word, "Wednesday"),
        ),
        "one paragraph, two sentences": (
            joined(body),
            edited(body, middle, 0, first_word, "Tuesday"),
            edited(body, middle, 1, first_word, "Wednesday"),
        ),
        "the same word (a conflict)": (
            joined(body),
            edited(body, middle, 0, first_word, "Tuesday"),
            edited(body, middle, 0, first_word, "Wednesday"),
        ),
    }
    other = CASES["ordinary_edit"](size)[1]
    for name, make in HOSTILE.items():
        old, new = make(size)
        # The same length, so within the body limit: a line added in the middle, the end cut.
        ordinary = ("Preface. " + old[: len(old) // 2] + "A line in the middle.\n" + old[len(old) // 2 :])[: len(old)]
        found[f"{name}, mine hard"] = (old, new, ordinary)
        found[f"{name}, both hard"] = (old, new, other)
    return found


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from benchmarks.diff import reset_peak_memory
    from messages_app.diffs import line_diff
    from messages_app.merge import MERGE_STEP_BUDGET, merge_text

    def line_diffs(base: str, mine: str, theirs: str) -> None:
        lines = base.splitlines()
        first = line_diff(lines, mine.splitlines(), budget=MERGE_STEP_BUDGET // 2)
        line_diff(lines, theirs.splitlines(), budget=max(0, MERGE_STEP_BUDGET - first.steps))

    rows = [(name, size, texts) for size in SIZES for name, texts in cases(size).items()]
    merge_text("warm-up.", "warm-up, mine.", "warm-up, theirs.")  # builds the tokeniser once
    timings: dict[tuple[str, int], dict[str, list[float]]] = {}
    results = {}
    for _round in range(args.rounds):
        for name, size, (base, mine, theirs) in rows:
            kinds = timings.setdefault((name, size), {"merge": [], "lines": [], "mib": []})
            reset_peak_memory()
            started = time.process_time()
            results[(name, size)] = merge_text(base, mine, theirs)
            kinds["merge"].append(time.process_time() - started)
            kinds["mib"].append(peak_mib())
            started = time.process_time()
            line_diffs(base, mine, theirs)
            kinds["lines"].append(time.process_time() - started)

    print(f"merge_text, median of {args.rounds} alternating rounds (budget {MERGE_STEP_BUDGET:,} steps per merge)")
    print(
        f"{'base / mine / theirs':<40}{'size':>8}{'merge CPU s':>13}{'line diffs CPU s':>18}{'steps':>11}"
        f"{'exact':>7}{'conflicts':>11}{'peak MiB':>10}"
    )
    for name, size, _texts in rows:
        kinds, result = timings[(name, size)], results[(name, size)]
        exact = "yes" if result.exact else "no"
        print(
            f"{name:<40}{size:>8}{statistics.median(kinds['merge']):>13.3f}{statistics.median(kinds['lines']):>18.3f}"
            f"{result.steps:>11,}{exact:>7}{len(result.conflicts):>11}{max(kinds['mib']):>10.0f}"
        )
    spread = [max(kinds["merge"]) / min(kinds["merge"]) for kinds in timings.values() if min(kinds["merge"]) > 0.01]
    print(f"noise: the slowest merge round was at most {max(spread):.2f}x the fastest of its row (rows over 10 ms)")
    print(f"peak resident memory of the process: {max(max(kinds['mib']) for kinds in timings.values()):.0f} MiB")


if __name__ == "__main__":
    main()

"""What rendering a body as Markdown costs, on ordinary text and on shapes chosen to be slow.

    .venv/bin/python benchmarks/markdown.py

For each shape, at the largest size Markdown is rendered (markup.MARKDOWN_MAX_BYTES) and at the
body limit (256 KiB, shown as plain text above the Markdown limit), it prints the time of one
render (the median of three) through messages_app.markup.render_markdown, the function every
page, the API and the editor's Preview call on a cache miss.
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messageboard.settings")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("PYTHONWARNINGS", "ignore")

import django

django.setup()

from messages_app import markup  # noqa: E402


def _wide_table(size: int) -> str:
    columns = size // 100
    return ("|" + "a|" * columns + "\n|" + "-|" * columns + "\n" + ("|" + "b|" * columns + "\n") * 20)[:size]


SHAPES = {
    "prose with links": lambda n: ("Some **bold** text and a [link](https://example.com) here.\n" * (n // 50))[:n],
    "unclosed brackets": lambda n: "[" * n,
    "unclosed image brackets": lambda n: "![" * (n // 2),
    "link openers": lambda n: "[a](" * (n // 4),
    "emphasis soup": lambda n: "*a **a " * (n // 7),
    "underscores": lambda n: "_a" * (n // 2),
    "tildes": lambda n: "~~a" * (n // 3),
    "entities": lambda n: "&#x" * (n // 3),
    "html-like": lambda n: "<a " * (n // 3),
    "backtick runs": lambda n: "".join("`" * i + "x" for i in range(1, 700))[:n],
    "deep quotes": lambda n: ">" * n,
    "wide table": lambda n: _wide_table(n),
}


def median_ms(text: str) -> float:
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        markup.render_markdown(text)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000


def main() -> None:
    sizes = (markup.MARKDOWN_MAX_BYTES, 256 * 1024)
    print(f"{'shape':<26}" + "".join(f"{size // 1024:>9} KiB" for size in sizes) + "   (ms per render)")
    for name, make in SHAPES.items():
        print(f"{name:<26}" + "".join(f"{median_ms(make(size)):>13.1f}" for size in sizes))


if __name__ == "__main__":
    main()

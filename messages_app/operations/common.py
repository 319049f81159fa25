"""What the operators' use cases share: progress reporting and the size of a chunk."""

from collections.abc import Callable

Progress = Callable[[int], object]
# Rows read or written per round trip: memory stays flat however many there are.
CHUNK = 1000


def no_progress(_: int) -> None:
    return None

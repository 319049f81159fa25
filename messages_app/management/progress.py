from contextlib import contextmanager

from tqdm import tqdm


@contextmanager
def progress_bar(command, *, total: int | None, unit: str, verbosity: int = 1):
    """Yield a callable that advances a progress bar on the command's stderr."""
    with tqdm(
        total=total,
        unit=f" {unit}",
        unit_scale=True,
        file=command.stderr._out,
        disable=verbosity < 1,
        mininterval=0.5,
        dynamic_ncols=True,
    ) as bar:
        yield bar.update

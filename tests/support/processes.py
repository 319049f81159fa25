"""Run board code in another process and kill it for real (SIGKILL) at a point it announces."""

import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def killed_when_reached(script: str, args: list[str], env: dict[str, str], marker: str) -> list[str]:
    """Run ``python -c script args`` until it prints a line starting with ``marker``, then SIGKILL it.

    Returns the words after the marker (what the script says it reached). The script hangs
    once it prints the line, so the kill lands exactly there.
    """
    child = subprocess.Popen(
        [sys.executable, "-c", script, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        line = child.stdout.readline()
        assert line.startswith(marker + " "), line
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
    return line.split()[1:]

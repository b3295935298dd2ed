"""Running the ``promptlab`` command as a user does: a subprocess, its exit code, stdout and stderr."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Finished:
    code: int
    out: str
    err: str


def promptlab(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Finished:
    """``python -m promptlab_nb ARGS`` in ``cwd``, with stderr not a terminal (plain progress lines)."""
    environment = {**os.environ, **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "promptlab_nb", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Finished(done.returncode, done.stdout, done.stderr)


def printed(finished: Finished) -> str:
    """What a command that succeeded printed on stdout: exit 0, else its exit code and output say why not."""
    assert finished.code == 0, (finished.code, finished.out, finished.err)
    return finished.out


def one_line_error(finished: Finished) -> str:
    """The error a refused command printed: exit 2, one line on stderr, no traceback."""
    assert finished.code == 2, (finished.code, finished.out, finished.err)
    lines = finished.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), finished.err
    return lines[0]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def write_echo_experiment(folder: Path, file: str, name: str, body: str) -> Path:
    """Experiment file ``file`` named ``name``: template ``answer`` with ``body`` on mock:echo over twelve
    rows whose expected answer is the country itself (rows.csv), checked by equals:expected."""
    rows = "".join(f"c{index},c{index}\n" for index in range(12))
    write(folder, "rows.csv", "country,expected\n" + rows)
    experiment = f"""
    name: {name}
    templates:
      - name: answer
        body: "{body}"
    models: [mock:echo]
    data: rows.csv
    evaluators: ["equals:expected"]
    """
    return write(folder, file, experiment)


CAPITALS_CSV = "country,expected\nFrance,France\nJapan,Japan\nItaly,Rome\nSpain,Spain\n"

CAPITALS_EXPERIMENT = """
name: capitals
templates:
  - name: capital
    body: "{{ country }}"
models: [mock:echo]
data: capitals.csv
evaluators: ["equals:expected"]
thresholds:
  - "equals:expected >= BOUND"
"""

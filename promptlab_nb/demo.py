"""``python -m promptlab_nb.demo``: run the quickstart notebook headless and write the executed copy,
or open it in JupyterLab with ``--lab``. Offline: the notebook uses mock models and a DuckDB store
in a temporary folder."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
QUICKSTART = NOTEBOOKS / "01-quickstart.ipynb"
OUTPUT_FOLDER = Path("build") / "demo"


@dataclass(frozen=True)
class DemoRun:
    """What one headless run of a notebook produced."""

    output: Path
    code_cells: int
    seconds: float


def current_python_kernels() -> KernelSpecManager:
    """A kernel spec manager whose every kernel is this interpreter, so the notebook imports the
    promptlab_nb installed next to this module, whatever kernels the machine has registered."""
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpecManager

    class CurrentPythonKernels(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return self.kernel_spec_class(
                resource_dir=ipykernel.kernelspec.RESOURCES, **ipykernel.kernelspec.get_kernel_dict()
            )

    return CurrentPythonKernels()


def execute_notebook(notebook: Path, output: Path, timeout: int = 300) -> DemoRun:
    """Run every cell of ``notebook`` in a fresh kernel started in its folder and write the result
    to ``output`` (without per-cell timings, so a rerun changes only what the cells show).
    A failing cell raises nbclient's CellExecutionError."""
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    document = nbformat.read(notebook, as_version=4)
    for cell in document.cells:
        cell.metadata.pop("execution", None)
    kernel = KernelManager(kernel_spec_manager=current_python_kernels())
    client = NotebookClient(
        document,
        km=kernel,
        timeout=timeout,
        record_timing=False,
        resources={"metadata": {"path": str(notebook.parent)}},
    )
    started = time.perf_counter()
    try:
        client.execute(stderr=subprocess.DEVNULL)
    finally:
        output.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(document, output)
    code_cells = sum(cell.cell_type == "code" for cell in document.cells)
    return DemoRun(output, code_cells, time.perf_counter() - started)


def open_in_jupyterlab(notebook: Path) -> int:
    if find_spec("jupyterlab") is None:
        print(
            "JupyterLab is not installed in this environment: `pip install jupyterlab`, then run this again. "
            f"Or open {notebook} in VS Code, or run `python -m promptlab_nb.demo` to execute it headless.",
            file=sys.stderr,
        )
        return 1
    try:
        return subprocess.call([sys.executable, "-m", "jupyterlab", str(notebook)])
    except KeyboardInterrupt:
        return 0


def run_headless(notebook: Path, output: Path) -> int:
    from nbclient.exceptions import CellExecutionError

    print(f"Running {notebook.name} headless (offline models, a DuckDB store in a temporary folder)...")
    try:
        run = execute_notebook(notebook, output)
    except CellExecutionError as error:
        print(f"A cell failed; the notebook as far as it ran is in {output}.\n{error}", file=sys.stderr)
        return 1
    print(f"Ran {run.code_cells} code cells in {run.seconds:.1f} s, no errors.")
    print(f"Executed notebook: {run.output}")
    print(f"Open it in JupyterLab: {lab_command(notebook)}")
    return 0


def lab_command(notebook: Path) -> str:
    """The command that opens ``notebook`` in JupyterLab, with this interpreter as the user would type it."""
    python = os.path.relpath(sys.executable) if Path(sys.executable).is_relative_to(Path.cwd()) else sys.executable
    target = "" if notebook.resolve() == QUICKSTART else f" {notebook}"
    return f"{python} -m promptlab_nb.demo --lab{target}"


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m promptlab_nb.demo",
        description="Run an example notebook headless and write the executed copy, or open it in JupyterLab.",
    )
    parser.add_argument("notebook", nargs="?", type=Path, default=QUICKSTART, help="default: the quickstart")
    parser.add_argument("--output", type=Path, help=f"the executed notebook (default: {OUTPUT_FOLDER}/<name>)")
    parser.add_argument("--lab", action="store_true", help="open the notebook in JupyterLab instead")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    notebook: Path = arguments.notebook
    if not notebook.is_file():
        print(
            f"No notebook at {notebook}. The example notebooks come with the source repository: "
            "clone it and run `make demo` there.",
            file=sys.stderr,
        )
        return 2
    if arguments.lab:
        return open_in_jupyterlab(notebook)
    return run_headless(notebook, arguments.output or OUTPUT_FOLDER / notebook.name)


if __name__ == "__main__":
    sys.exit(main())

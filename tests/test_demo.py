"""The README's main command: `make demo` runs the quickstart headless and writes the executed notebook."""

from __future__ import annotations

import nbformat

from promptlab_nb import demo


def error_outputs(notebook: nbformat.NotebookNode) -> list[str]:
    return [
        f"{output.ename}: {output.evalue}"
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]


def test_demo_runs_the_quickstart_offline_and_writes_the_executed_notebook(tmp_path, capsys):
    # Given a fresh folder and no provider keys (the conftest removes them)
    output = tmp_path / "build" / "quickstart.ipynb"
    notebook_folder = sorted(demo.NOTEBOOKS.rglob("*"))
    # When the user runs the demo
    status = demo.main([str(demo.QUICKSTART), "--output", str(output)])
    # Then it succeeds, says where the executed notebook is, and every cell ran without error
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert f"Executed notebook: {output}" in printed and "no errors" in printed
    executed = nbformat.read(output, as_version=4)
    assert error_outputs(executed) == []
    assert all(cell.execution_count for cell in executed.cells if cell.cell_type == "code")
    # And the notebook's store lived in a temporary folder: nothing new next to the notebook
    assert sorted(demo.NOTEBOOKS.rglob("*")) == notebook_folder


def test_demo_names_a_missing_notebook(tmp_path, capsys):
    status = demo.main([str(tmp_path / "nowhere.ipynb")])
    assert status == 2
    assert "No notebook at" in capsys.readouterr().err

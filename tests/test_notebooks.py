"""The notebooks of examples/ run from top to bottom in a fresh kernel (nbclient raises on the first
cell that fails), with the repository on the kernel's path and the results below the test's folder;
they are committed without outputs. How long they take: docs/performance.md (no timed tests)."""
import json

import pytest

from conftest import ROOT, script_env

NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))


def test_there_are_notebooks_and_none_holds_outputs():
    assert NOTEBOOKS
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text())["cells"]
        assert all(not cell.get("outputs") and cell.get("execution_count") is None
                   for cell in cells if cell["cell_type"] == "code"), f"{path.name} holds outputs"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_runs_to_its_end(path, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    for key, value in {**script_env(tmp_path), "PYTHONPATH": str(ROOT)}.items():
        monkeypatch.setenv(key, value)  # the kernel inherits this process's environment
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # in tmp_path
    assert (tmp_path / "results" / "examples").is_dir()

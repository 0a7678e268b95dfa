"""The example notebook and the README's notebook snippet run headlessly and without errors."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.slow
def test_example_notebook_runs(monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(ROOT / "notebooks" / "fit_reference.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)  # inline figures drawn


@pytest.mark.slow
def test_readme_notebook_snippet_runs(monkeypatch):
    text = (ROOT / "README.md").read_text()
    block = re.search(r"From a notebook.*?```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(ROOT)
    import matplotlib
    backend = matplotlib.get_backend()
    exec(compile(block.replace("bootstrap=200", "bootstrap=20"), "README", "exec"), {})
    assert matplotlib.get_backend() == backend

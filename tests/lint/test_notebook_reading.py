"""Notebooks: code cells joined in order, IPython syntax blanked with rows kept, findings mapped
back to (cell, row in cell), noqa per line, unreadable notebooks reported as BSG000."""

from __future__ import annotations

import json

import pytest

from keras_bsguard.lint import LintSettings
from keras_bsguard.lint.api import lint_data
from keras_bsguard.lint.notebook import NotebookError, blank_magics, read_notebook

LOSS_CELL = ("def sse(y_true, y_pred):\n"
             "    x = tf.math.log(y_pred)\n"
             "    return tf.reduce_sum(tf.square(y_true - y_pred)) + x\n")


def notebook_bytes(cells: list[tuple[str, str]], language: str = "python") -> bytes:
    """nbformat's own writer when installed, else nbformat 4 JSON by hand (the same shape)."""
    try:
        import nbformat
    except ImportError:
        document = {"cells": [{"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True),
                               **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                              for kind, source in cells],
                    "metadata": {"language_info": {"name": language}}, "nbformat": 4, "nbformat_minor": 5}
        return (json.dumps(document, indent=1) + "\n").encode()
    book = nbformat.v4.new_notebook()
    book.metadata["language_info"] = {"name": language}
    book.cells = [nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
                  for kind, source in cells]
    return nbformat.writes(book).encode()


def test_cells_are_numbered_as_shown_and_rows_map_back():
    data = notebook_bytes([("markdown", "# Title\ntext"), ("code", "import tensorflow as tf\n%matplotlib inline"),
                           ("markdown", "more"), ("code", LOSS_CELL)])
    book = read_notebook(data)
    assert book.source.splitlines() == ["import tensorflow as tf", "", *LOSS_CELL.splitlines()]
    assert [book.place(row) for row in (1, 2, 3, 5)] == [(2, 1), (2, 2), (4, 1), (4, 3)]
    assert book.cells[4] == LOSS_CELL.splitlines()
    text = data.decode().splitlines()
    assert "return tf.reduce_sum" in text[book.file_row(4, 3) - 1]
    assert "%matplotlib inline" in text[book.file_row(2, 2) - 1]


def test_findings_carry_cell_and_row_in_cell_and_noqa_works_per_line():
    cells = [("markdown", "# Title"), ("code", "import tensorflow as tf"), ("code", LOSS_CELL)]
    found = lint_data(notebook_bytes(cells), "train.ipynb", LintSettings())
    assert [(f.code, f.cell, f.row, f.column) for f in found] == [("BSG402", 3, 2, 9), ("BSG501", 3, 3, 12)]
    quiet = LOSS_CELL.replace("tf.math.log(y_pred)\n", "tf.math.log(y_pred)  # noqa: BSG402\n")
    found = lint_data(notebook_bytes([("code", "import tensorflow as tf"), ("code", quiet)]), "t.ipynb", LintSettings())
    assert [(f.code, f.cell, f.row) for f in found] == [("BSG501", 2, 3)]
    skipped = [("code", "# bsguard: noqa\nimport tensorflow as tf"), ("code", LOSS_CELL)]
    assert lint_data(notebook_bytes(skipped), "t.ipynb", LintSettings()) == []


def test_a_syntax_error_in_a_cell_is_placed_in_that_cell():
    found = lint_data(notebook_bytes([("code", "x = 1"), ("code", "y = 2\nz = (1,")]), "t.ipynb", LintSettings())
    assert [(f.code, f.cell, f.row, f.column) for f in found] == [("BSG000", 2, 2, 5)]


@pytest.mark.parametrize("data, message", [
    (b'{"cells": [', "notebook is not valid JSON: Expecting value at line 1, column 12"),
    (b"\xff\xfe\x00garbage", "notebook is not valid"),
    (b'{"nbformat": 3, "worksheets": []}', "not a Jupyter notebook: no list of cells (nbformat 4 expected)"),
    (b'{"cells": [{"cell_type": "code", "source": 5}]}', "not a Jupyter notebook: cell 1's source is not text"),
])
def test_a_notebook_we_cannot_read_is_bsg000(data, message):
    [finding] = lint_data(data, "bad.ipynb", LintSettings())
    assert finding.code == "BSG000" and finding.message.startswith(message) and finding.cell is None
    with pytest.raises(NotebookError):
        read_notebook(data)


def test_other_languages_are_not_read_as_python():
    assert read_notebook(notebook_bytes([("code", "x <- c(1, 2)")], language="R")).source == ""


def test_sources_written_as_one_string_map_to_their_json_line():
    document = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "source": "a = 1\nb = 2\n"}],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    data = json.dumps(document, indent=1).encode()
    book = read_notebook(data)
    row = next(number for number, line in enumerate(data.decode().splitlines(), 1) if '"source"' in line)
    assert book.file_row(1, 1) == book.file_row(1, 2) == row


@pytest.mark.parametrize("lines, expected", [
    (["%pip install x", "!ls -la", "files = !ls", "?len", "len?", "len??", "x = 1"],
     ["", "", "", "", "", "", "x = 1"]),
    (["for i in range(3):", "    !echo $i", "    %time f(i)"], ["for i in range(3):", "    pass", "    pass"]),
    (["x = (a", "     % b)", "s = '''", "!not a magic, inside a string", "'''"],
     ["x = (a", "     % b)", "s = '''", "!not a magic, inside a string", "'''"]),
    (["y = f(1,  # what?", "      2)"], ["y = f(1,  # what?", "      2)"]),
    (["%%bash", "echo hi", "ls"], ["", "", ""]),
    (["%%time", "fit()"], ["", "fit()"]),
    (["# why?", "x = 'a' \\", "    '%s'"], ["# why?", "x = 'a' \\", "    '%s'"]),
])
def test_ipython_syntax_is_blanked_and_python_is_kept(lines, expected):
    assert blank_magics(lines) == expected
    compile("\n".join(expected) + "\n", "cell", "exec")  # what is left is Python


def test_a_stop_cell_does_not_make_the_later_cells_dead():
    # a ``raise SystemExit`` cell stops "Run All", but each later cell still runs when run by hand:
    # the training loop below it is read, and its batch sum is reported
    cells = [("code", "import torch\nmodel = torch.nn.Linear(4, 1)\nopt = torch.optim.SGD(model.parameters(), 0.1)\n"
                      "loader = [(torch.randn(8, 4), torch.randn(8, 1))]"),
             ("code", 'raise SystemExit("stop Run All here")'),
             ("code", "for x, y in loader:\n    loss = ((model(x) - y) ** 2).sum()\n    opt.zero_grad()\n"
                      "    loss.backward()\n    opt.step()")]
    found = lint_data(notebook_bytes(cells), "train.ipynb", LintSettings())
    assert [(f.cell, f.row, f.code) for f in found] == [(3, 2, "BSG501")]

"""Large files are linted piece by piece (lint/pieces.py): libcst never holds the whole file, and
the findings are exactly those of the whole file, on the file's own lines."""

from __future__ import annotations

import ast

import pytest

from keras_bsguard.lint import api, lint_source, pieces

from .conftest import FIXTURES

MIXED = FIXTURES / "pieces" / "mixed_module.py"


def _keys(findings):
    return [(f.code, f.row, f.column, f.end_row, f.end_column, f.message, f.related, f.loss) for f in findings]


@pytest.fixture
def split_everything(monkeypatch):
    """Every file counts as large, and every group of statements becomes its own piece."""
    original = pieces.split_into_pieces
    monkeypatch.setattr(api, "PIECES_ABOVE_BYTES", 0)
    monkeypatch.setattr(pieces, "split_into_pieces", lambda data, tree, piece_bytes=1: original(data, tree, 1))


def test_pieces_give_the_whole_files_findings_on_its_lines(split_everything, monkeypatch):
    data = MIXED.read_bytes()
    split = lint_source(data, str(MIXED))
    monkeypatch.setattr(api, "PIECES_ABOVE_BYTES", 10**12)
    whole = lint_source(data, str(MIXED))
    # a helper's batch loop, a module constant's scale and fixed batch size: reached across statements
    assert {f.code for f in whole} >= {"BSG101", "BSG201", "BSG401", "BSG501", "BSG502"}
    assert any(f.code == "BSG101" and f.loss == "_row_sums" for f in whole)
    assert _keys(split) == _keys(whole)
    assert "BSG501" not in {f.code for f in whole if f.loss == "quiet_loss"}  # noqa read on the file's lines


def test_a_loss_and_what_it_reaches_share_a_piece():
    data = MIXED.read_bytes()
    parts = pieces.split_into_pieces(data, ast.parse(data), piece_bytes=1)
    texts = [part.source.decode() for part in parts]
    with_weighted = [t for t in texts if "class Weighted(" in t]
    assert len(with_weighted) == 1 and "class BaseWeighted(" in with_weighted[0]
    assert sum("def _log_probs(" in t for t in texts) == 1
    assert any("def _log_probs(" in t and "def cross_entropy(" in t for t in texts)
    # compile(loss="per_row_loss") names the loss by a string: the call goes with it
    assert any("def per_row_loss(" in t and "def build(" in t for t in texts)
    # imports and plain constants are context, copied into every piece; code is never copied
    assert all("import tensorflow as tf" in t and "EPS = 1e-7" in t for t in texts)
    assert sum("def load_rows(" in t for t in texts) == 1


def test_libcst_never_parses_more_than_a_piece_of_a_large_file(monkeypatch):
    import libcst

    body = MIXED.read_text()
    # forty renamed copies of the module: ~100 KB, split into pieces of about 8 KB
    copies = [body.replace("loss", f"loss{i}").replace("Weighted", f"Weighted{i}").replace("_log_probs", f"_lp{i}")
              for i in range(40)]
    data = "\n".join(copies).encode()
    parsed: list[int] = []
    real_parse = libcst.parse_module
    monkeypatch.setattr(libcst, "parse_module", lambda source, *a, **k: parsed.append(len(source)) or real_parse(source, *a, **k))
    original = pieces.split_into_pieces
    monkeypatch.setattr(api, "PIECES_ABOVE_BYTES", 50_000)
    monkeypatch.setattr(pieces, "split_into_pieces", lambda d, t, piece_bytes=8_000: original(d, t, 8_000))
    split = lint_source(data, "big.py")
    assert len(parsed) > 5 and max(parsed) < 20_000 < len(data)
    monkeypatch.setattr(api, "PIECES_ABOVE_BYTES", 10**12)
    parsed.clear()
    whole = lint_source(data, "big.py")
    assert parsed == [len(data)]
    assert _keys(split) == _keys(whole) and len(whole) >= 40 * 6


def test_a_file_with_a_coding_cookie_is_parsed_whole(monkeypatch):
    import libcst

    data = b"# -*- coding: latin-1 -*-\nimport tensorflow as tf\ndef loss(y_true, y_pred):\n    return tf.reduce_sum(y_pred)\n"
    parsed: list[int] = []
    real_parse = libcst.parse_module
    monkeypatch.setattr(libcst, "parse_module", lambda source, *a, **k: parsed.append(len(source)) or real_parse(source, *a, **k))
    monkeypatch.setattr(api, "PIECES_ABOVE_BYTES", 0)
    assert [f.code for f in lint_source(data, "cookie.py")] == ["BSG501"]
    assert parsed == [len(data)]

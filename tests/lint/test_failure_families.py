"""The failure families seen on real loss code (issue #9), one small fixture file per side.

``tests/lint/fixtures/families/fNN_<family>_negative.py`` holds code of that family that is
correct (or not a loss at all): the family's rules must stay silent there. ``..._positive.py``
holds the same shapes of code with the bug: the finding must be reported on the line marked
``# EXPECT: CODE`` and nowhere else. Files whose names say ``metric`` or ``test_`` also check
that the module kind is read from the file name.
"""

from __future__ import annotations

from collections import Counter

import pytest

from keras_bsguard.lint import lint_source

from keras_bsguard.lint import LintSettings
from keras_bsguard.lint.rules import select_rules

from .conftest import FIXTURES, expected_findings, extra_selection

FAMILIES = FIXTURES / "families"
FAMILY_FILES = sorted(FAMILIES.glob("*.py"))


def _lint(path):
    # the file's own name is passed: module kind (tests, metrics) is read from it; a
    # ``# bsguard-select: CODE`` line adds an opt-in rule to the default selection
    source = path.read_text()
    rules = select_rules(None, extend_select=extra_selection(source))
    return lint_source(source, str(path), LintSettings(codes=frozenset(r.code for r in rules)))


def _found(path) -> Counter:
    return Counter((f.row, f.code) for f in _lint(path))


@pytest.mark.parametrize("path", FAMILY_FILES, ids=[p.stem for p in FAMILY_FILES])
def test_family_fixture_findings_match_expect_markers(path):
    found = _found(path)
    assert found == expected_findings(path.read_text()), "\n".join(
        f"{f.row}:{f.column} {f.code} {f.message}" for f in _lint(path))


def test_every_family_has_a_clean_side_and_a_buggy_side():
    numbers = {p.name[1:3] for p in FAMILY_FILES if p.name.startswith("f")}
    assert numbers == {f"{n:02d}" for n in range(1, 13)}
    for number in sorted(numbers):
        files = [p for p in FAMILY_FILES if p.name.startswith(f"f{number}_")]
        assert any(expected_findings(p.read_text()) for p in files), f"family {number} has no positive fixture"
        assert any(p.stem.endswith("_negative") or not expected_findings(p.read_text()) for p in files), \
            f"family {number} has no clean fixture"


def test_negative_family_files_are_silent_for_their_family():
    for path in FAMILY_FILES:
        if path.stem.endswith("_negative"):
            reported = {code for _row, code in _found(path)}
            assert reported <= {code for _row, code in expected_findings(path.read_text())}, path.name


def test_a_test_module_defines_no_losses():
    path = FAMILIES / "test_f01_losses_are_tested.py"
    assert lint_source(path.read_text(), str(path)) == []
    # the same text under a neutral name is a loss with findings: the file name is what silences it
    assert {f.code for f in lint_source(path.read_text(), "losses.py")} == {"BSG402", "BSG501"}


def test_one_cause_names_its_other_places():
    path = FAMILIES / "f11_one_cause_positive.py"
    (finding,) = lint_source(path.read_text(), str(path))
    assert "2 more batch x batch intermediates" in finding.message
    assert [row for row, _column in finding.related] == [7, 8]


_TRIPLET_WITH_HELPERS = """import torch


class HardTripletLoss(torch.nn.Module):
    def _distances(self, emb):
        dot = emb @ emb.t()
        return dot.diag()[:, None] - 2 * dot + dot.diag()[None, :]

    def _positive_mask(self, labels):
        return labels[None, :] == labels[:, None]

    def _negative_mask(self, labels):
        return labels[None, :] != labels[:, None]

    def forward(self, emb, labels):
        dist = self._distances(emb)
        hardest_pos = (dist * self._positive_mask(labels)).max(1).values
        hardest_neg = (dist + 1e6 * ~self._negative_mask(labels)).min(1).values
        return torch.relu(hardest_pos - hardest_neg + 0.3).mean()


class OtherPairLoss(torch.nn.Module):
    def forward(self, a, b):
        return (a @ b.t()).logsumexp(1).mean()
"""


def test_batch_by_batch_helpers_of_one_loss_are_one_cause():
    # the distance matrix and the two label masks each helper builds serve one triplet loss: one
    # finding, at the first place, naming the others; another loss of the file keeps its own
    findings = [f for f in lint_source(_TRIPLET_WITH_HELPERS, "losses.py") if f.code == "BSG601"]
    assert [f.row for f in findings] == [6, 24]
    first = findings[0]
    assert "2 more batch x batch intermediates in this loss" in first.message
    assert {10, 13} <= {row for row, _column in first.related}
    assert findings[1].related == ()


def test_a_batch_sum_names_the_other_sums_behind_the_returned_name():
    source = """import tensorflow as tf


def triplet(y_true, y_pred):
    pos = tf.reduce_sum(tf.square(y_pred[:, 0] - y_pred[:, 1]))
    neg = tf.reduce_sum(tf.square(y_pred[:, 0] - y_pred[:, 2]))
    loss = tf.maximum(tf.add(tf.subtract(pos, neg), 0.2), 0.0)
    return loss
"""
    finding = _the_finding(source, "BSG501")
    assert finding.row == 5 and [row for row, _column in finding.related] == [6, 8]


_SEMIHARD_WITH_AN_IMPORTED_DISTANCE = """import tensorflow as tf
from mypkg.pairwise import pairwise_distance


def triplet_semihard_loss(labels, embeddings):
    pdist_matrix = pairwise_distance(embeddings, squared=True)
    adjacency_not = tf.logical_not(tf.equal(labels, tf.transpose(labels)))
    batch_size = tf.size(labels)
    pdist_matrix_tile = tf.tile(pdist_matrix, [batch_size, 1])
    mask = tf.logical_and(tf.tile(adjacency_not, [batch_size, 1]),
                          pdist_matrix_tile > tf.reshape(tf.transpose(pdist_matrix), [-1, 1]))
    return tf.reduce_mean(tf.cast(mask, tf.float32) * pdist_matrix_tile)
"""


def test_a_distance_from_another_module_tiled_by_the_batch_is_a_place_of_its_cause():
    # pairwise_distance, imported from the user's own module, is a distance of the embeddings (a
    # tensor, not an unknown value): its tiling by the batch size (B^2 x B) is a further place of
    # the B x B cause, as the tiled label mask is
    finding = _the_finding(_SEMIHARD_WITH_AN_IMPORTED_DISTANCE, "BSG601")
    assert finding.row == 6
    assert {9, 10} <= {row for row, _column in finding.related}


def _the_finding(source: str, code: str):
    """The one finding of ``code`` in ``source`` (linted as ``losses.py``)."""
    (finding,) = [f for f in lint_source(source, "losses.py") if f.code == code]
    return finding


def test_a_returned_sum_of_batch_sums_is_one_cause_with_its_places():
    source = ("import keras.backend as K\n\n"
              "def weighted_mae(y_true, y_pred):\n"
              "    mae = 0.4 * K.sum(K.abs(y_true - y_pred))\n"
              "    scale = 0.6 * K.sum(K.abs(K.log(1 + y_true) - K.log(1 + y_pred)))\n"
              "    return mae + scale\n")
    finding = _the_finding(source, "BSG501")
    # the other sum, and the return that makes them the loss
    assert finding.row == 4 and [row for row, _column in finding.related] == [5, 6]
    assert "1 more batch sums returned" in finding.message


def test_messages_say_what_is_true_for_the_library_the_file_imports():
    torch_file = FAMILIES / "f12_backend_messages_numpy_random_torch.py"
    (finding,) = _lint(torch_file)  # (its header selects the opt-in BSG202)
    assert finding.code == "BSG202" and "every step" in finding.message and "traced" not in finding.message
    tf_source = "import numpy as np\nimport tensorflow as tf\n\ndef loss(y_true, y_pred):\n" \
                "    return tf.reduce_mean(y_pred * np.random.normal(), axis=-1)\n"
    (finding,) = lint_source(tf_source, "losses.py")
    assert "traced" in finding.message


def test_a_log_sum_exp_by_hand_names_the_exp_it_sums():
    source = ("import tensorflow as tf\n\n"
              "def cox_loss(y_true, y_pred):\n"
              "    hazard = tf.squeeze(tf.exp(y_pred))\n"
              "    log_risk = tf.math.log(tf.math.cumsum(hazard))\n"
              "    return -tf.reduce_mean((tf.squeeze(y_pred) - log_risk) * y_true)\n")
    finding = _the_finding(source, "BSG401")
    assert finding.row == 5 and [row for row, _column in finding.related] == [4]


def test_a_sum_in_the_no_positives_fallback_is_not_the_loss_a_batch_sum_makes():
    # Family 2: ``fallback if count == 0 else normal``: the normal path decides (CenterNet's focal)
    template = ("import torch\n\n"
                "def focal(pred, gt):\n"
                "    pos = gt.eq(1).float()\n"
                "    neg_loss = (torch.log(1 - pred) * pred ** 2 * (1 - pos)).sum()\n"
                "    num_pos = pos.sum()\n"
                "    return {}\n")
    fallback = template.format("-neg_loss if num_pos == 0 else -neg_loss / num_pos")
    assert "BSG501" not in {f.code for f in lint_source(fallback, "losses.py")}
    always = template.format("-neg_loss if num_pos > 0 else -neg_loss / 1.0")
    assert "BSG501" in {f.code for f in lint_source(always, "losses.py")}


def test_a_finding_in_a_helper_names_the_calls_of_the_loss_that_run_it():
    source = ("import torch\n\n"
              "def similarity(x, y):\n"
              "    return torch.matmul(x, y.T)\n\n"
              "def nt_xent_loss(z_i, z_j, temperature=0.5):\n"
              "    z = torch.cat([z_i, z_j], dim=0)\n"
              "    sim = similarity(z, z) / temperature\n"
              "    return torch.nn.functional.cross_entropy(sim, torch.arange(z.shape[0]))\n")
    finding = _the_finding(source, "BSG601")
    assert finding.row == 4 and [row for row, _column in finding.related] == [8]


def test_a_print_that_formats_a_tensor_is_a_sync_and_says_so_for_torch():
    path = FAMILIES / "f12_backend_messages_torch.py"
    (finding,) = [f for f in lint_source(path.read_text(), str(path)) if f.code == "BSG701"]
    assert "device sync" in finding.message and "tf.print" not in finding.message


def test_a_value_read_again_before_it_is_rebound_is_one_sync():
    path = FAMILIES / "f11_one_cause_sync_positive.py"
    findings = [f for f in lint_source(path.read_text(), str(path)) if f.code == "BSG701"]
    first, rebound = sorted((f for f in findings if 10 < f.row < 22), key=lambda f: f.row)
    assert "1 more reads of the same value" in first.message
    assert [row for row, _column in first.related] == [17]
    assert rebound.related == ()

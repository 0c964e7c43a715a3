"""``bsguard probe`` on the current backend: measured facts, verdicts on lint findings, output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_bsguard.probe.runner import has_problem, probe

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "probe_losses.py"
TARGETS = Path(__file__).parent / "fixtures" / "probe_targets.py"
BACKEND = keras.backend.backend()


def _check(result, name):
    return next(check for check in result["checks"] if check["name"] == name)


def _verdicts(result):
    return {(v["code"], v["verdict"]) for v in result["verdicts"]}


def test_a_plain_mean_loss_gets_no_verdict_and_no_problem():
    result = probe(f"{EXAMPLES}::mean_squared_error", batch_sizes=[8, 32, 128])
    assert result["verdicts"] == [] and result["unflagged"] == []
    assert _check(result, "batch_coupling")["kind"] == "mean"
    assert not _check(result, "determinism")["problem"]
    assert all(row["finite"] and row["error"] is None for row in result["rows"])
    assert not has_problem(result)


def test_a_sum_over_the_batch_doubles_and_confirms_bsg501():
    result = probe(f"{EXAMPLES}::summed_squared_error", batch_sizes=[8, 32, 128])
    coupling = _check(result, "batch_coupling")
    assert coupling["kind"] == "sum" and abs(coupling["ratio"] - 2.0) < 1e-3
    assert _verdicts(result) == {("BSG501", "confirmed")}


def test_a_batch_by_batch_tensor_grows_as_b_squared_and_confirms_bsg601():
    result = probe(f"{EXAMPLES}::pairwise_distance_loss", batch_sizes=[64, 128, 256, 512])
    assert result["exponents"]["memory"]["value"] > 1.6
    assert ("BSG601", "confirmed") in _verdicts(result)
    big = result["rows"][-1]["peak_bytes"]
    assert big >= 512 * 512 * 10 * 4 * 0.9  # the B x B x 10 float32 tensor itself


def test_a_python_loop_over_the_batch_is_confirmed():
    result = probe(f"{EXAMPLES}::per_sample_loop", batch_sizes=[16, 32, 64, 128])
    assert ("BSG101", "confirmed") in _verdicts(result)
    growth = _check(result, "compile_growth")
    if BACKEND == "torch":
        assert growth["problem"] is None  # eager: no program to count; the verdict comes from time per sample
    else:  # the traced program, and with it the compile time, grows with every sample
        assert growth["program_exponent"] >= 0.9
        # compile time is a wall-clock figure: it grows with the program, but a loaded CI
        # machine adds a fixed cost that flattens the exponent (0.56 seen under load, ~0.9 alone)
        assert result["exponents"]["compile"]["value"] >= 0.4
        sizes = growth["program_sizes"]
        assert sizes[128] > 4 * sizes[16]


def test_a_dead_zone_is_measured_and_confirms_bsg301():
    result = probe(f"{EXAMPLES}::epsilon_insensitive", batch_sizes=[8, 32, 64])
    near = _check(result, "near_optimum")
    assert near["dead_zone"] and near["zero_gradient_fractions"][1] >= 0.99
    assert ("BSG301", "confirmed") in _verdicts(result)


def test_numpy_noise_in_the_loss_is_confirmed_as_randomness():
    result = probe(f"{EXAMPLES}::noisy_mse", batch_sizes=[8, 16, 32])
    determinism = _check(result, "determinism")
    if BACKEND == "torch":  # eager: NumPy draws again at every call
        assert determinism["random_per_call"]
    else:  # compiled: drawn once per trace, frozen into the step
        assert determinism["frozen_at_trace"] and not determinism["random_per_call"]
    assert ("BSG201", "confirmed") in _verdicts(result)


def test_exp_of_ten_times_the_error_is_not_finite_at_x100_and_confirms_bsg401():
    result = probe(f"{EXAMPLES}::exponential_penalty", batch_sizes=[8, 32, 64])
    extremes = _check(result, "extremes")
    assert extremes["problem"] and extremes["finite_at_x1"] and not extremes["finite_at_x100"]
    assert ("BSG401", "confirmed") in _verdicts(result)


def test_a_blowup_the_linter_misses_is_listed_as_measured_not_flagged():
    result = probe(f"{TARGETS}::unscaled_exponential", batch_sizes=[8, 32, 64])
    assert result["verdicts"] == []
    assert [item["check"] for item in result["unflagged"]] == ["extremes"]
    assert has_problem(result)


def test_keras_random_without_a_seed_is_not_deterministic():
    result = probe(f"{EXAMPLES}::unseeded_keras_noise", batch_sizes=[8, 16, 32])
    assert _check(result, "determinism")["random_per_call"]
    assert ("BSG201", "confirmed") in _verdicts(result)
    if BACKEND == "jax":  # Keras refuses unseeded random ops in a traced function: said, then measured eagerly
        assert result["mode"] == "eager" and "seeded random ops" in result["notes"][0]


def test_a_1000_fold_repeat_is_materialised_eagerly_and_fused_by_xla():
    result = probe(f"{EXAMPLES}::repeated_prediction_loss", batch_sizes=[64, 256, 1024])
    reference = _check(result, "memory_reference")
    verdicts = {v["verdict"] for v in result["verdicts"] if v["code"] == "BSG602"}
    if BACKEND == "jax":
        assert reference["ratio"] < 5
        assert verdicts == {"not_confirmed"}
        assert all("fuses" in v["evidence"] for v in result["verdicts"] if v["code"] == "BSG602")
    else:
        assert reference["ratio"] >= 100
        assert verdicts == {"confirmed"}


def test_memory_exponents_of_a_similarity_matrix_and_of_plain_mse():
    similarity = probe(f"{EXAMPLES}::similarity_loss", batch_sizes=[64, 128, 256, 512, 1024])
    plain = probe(f"{EXAMPLES}::mean_squared_error", batch_sizes=[64, 128, 256, 512, 1024])
    assert abs(similarity["exponents"]["memory"]["value"] - 2) <= 0.3
    assert abs(plain["exponents"]["memory"]["value"] - 1) <= 0.3
    assert ("BSG601", "confirmed") in _verdicts(similarity)


def test_a_factory_call_with_literal_arguments_is_probed():
    result = probe(f"{TARGETS}::focal_factory(gamma=3.0)", batch_sizes=[8, 16, 32])
    assert result["target_kind"] == "binary" and result["prediction"] == "probabilities"
    assert all(row["finite"] for row in result["rows"])
    assert _check(result, "extremes")["probabilities_opposite"]  # clipped: finite at 0 and 1


def test_a_class_is_instantiated_with_init_arguments():
    one = probe(f"{TARGETS}::WeightedMSE", batch_sizes=[8, 16, 32])
    three = probe(f"{TARGETS}::WeightedMSE", init={"weight": 3.0}, batch_sizes=[8, 16, 32])
    assert abs(three["rows"][0]["loss_per_sample"] - 3 * one["rows"][0]["loss_per_sample"]) < 1e-4


def test_torch_style_argument_names_put_the_prediction_first():
    result = probe(f"{TARGETS}::PredictionFirst", batch_sizes=[8, 16, 32])
    assert result["order"] == "pred,true"
    assert _check(result, "batch_coupling")["kind"] == "sum"


def test_a_fixed_batch_size_fails_elsewhere_and_confirms_bsg502():
    result = probe(f"{TARGETS}::fixed_batch_mse", batch_sizes=[16, 32, 64])
    errors = {row["batch_size"]: row["error"] for row in result["rows"]}
    assert errors[32] is None and errors[16] and errors[64]
    assert ("BSG502", "confirmed") in _verdicts(result)


def test_the_command_writes_json_and_a_plot_and_exits_1_on_a_problem(tmp_path):
    plot = tmp_path / "probe.png"
    done = subprocess.run(
        [sys.executable, "-m", "keras_bsguard.cli", "probe", f"{EXAMPLES}::summed_squared_error",
         "--batch-sizes", "8,16,32", "--output-format", "json", "--plot", str(plot)],
        capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": BACKEND}, timeout=600, check=False)
    assert done.returncode == 1, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["backend"] == BACKEND
    assert {"backend", "rows", "exponents", "checks", "verdicts"} <= set(result)
    assert set(result["rows"][0]) >= {"batch_size", "seconds", "compile_seconds", "peak_bytes", "loss_per_sample",
                                      "finite", "error"}
    assert set(result["exponents"]) == {"time", "compile", "memory"}
    assert set(result["exponents"]["memory"]) == {"value", "r2"}
    assert result["verdicts"][0]["verdict"] == "confirmed"
    assert set(result["verdicts"][0]) >= {"code", "line", "verdict", "evidence"}
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_command_exits_0_on_a_clean_loss_and_prints_a_table():
    done = subprocess.run(
        [sys.executable, "-m", "keras_bsguard.cli", "probe", f"{EXAMPLES}::mean_squared_error",
         "--batch-sizes", "8,16,32"],
        capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": BACKEND}, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "batch  time/call" in done.stdout and "lint findings in this loss: none" in done.stdout


def test_an_out_of_memory_at_one_size_is_reported_in_its_row_and_the_probe_goes_on():
    result = probe(f"{TARGETS}::runs_out_of_memory_from_64", batch_sizes=[16, 32, 64])
    errors = {row["batch_size"]: row["error"] for row in result["rows"]}
    assert errors[16] is None and errors[32] is None
    assert errors[64].startswith("out of memory")
    assert _check(result, "batch_coupling")["kind"] == "mean"  # the checks ran at a size that worked


def test_a_loss_that_returns_one_value_per_feature_fails_with_a_clear_message():
    from keras_bsguard.probe.target import ProbeInputError

    with pytest.raises(ProbeInputError, match=r"the loss returned shape \(10,\): expected a scalar or one value per sample"):
        probe(f"{TARGETS}::per_feature_mean", batch_sizes=[8, 16])


def test_a_finding_in_a_helper_the_loss_calls_gets_a_verdict():
    result = probe(f"{TARGETS}::loss_through_a_helper", target_kind="binary", prediction="probabilities",
                   batch_sizes=[8, 16, 32])
    helper_line = next(i for i, line in enumerate(TARGETS.read_text().splitlines(), 1) if "return ops.log(x)" in line)
    assert [(v["code"], v["line"]) for v in result["verdicts"]] == [("BSG402", helper_line)]
    assert ("BSG402", "confirmed") in _verdicts(result)  # log(0) at probabilities of exactly 0
    assert result["unflagged"] == []


def test_a_loss_that_grows_with_the_batch_without_doubling_is_a_problem():
    result = probe(f"{TARGETS}::sum_over_a_fixed_count", batch_sizes=[64, 128, 256])
    coupling = _check(result, "batch_coupling")
    assert coupling["kind"] == "grows" and coupling["problem"]
    assert ("BSG501", "confirmed") in _verdicts(result) or [u["check"] for u in result["unflagged"]] == ["batch_coupling"]


def test_inputs_that_make_the_loss_non_finite_everywhere_are_said_not_judged():
    result = probe(f"{TARGETS}::log_of_the_target", batch_sizes=[8, 16, 32])
    assert any("not finite on the plain random batch" in note for note in result["notes"])
    assert all(v["verdict"] == "not_measurable" for v in result["verdicts"] if v["code"] in ("BSG401", "BSG402"))


@pytest.mark.backend("tensorflow")
def test_tensors_of_data_dependent_shape_are_said_to_be_left_out_of_tensorflow_memory():
    result = probe(f"{TARGETS}::positives_only", target_kind="binary", prediction="probabilities", batch_sizes=[8, 16, 32])
    assert any("data-dependent shape" in note for note in result["notes"])
    assert _check(result, "memory_reference")["summary"].startswith("not measurable")


def test_a_step_function_has_a_zero_gradient_on_every_backend():
    result = probe(f"{TARGETS}::accuracy_loss", target_kind="binary", prediction="probabilities",
                   batch_sizes=[8, 16, 32])
    near = _check(result, "near_optimum")
    assert near["no_gradient"] and near["problem"]
    assert all(row["error"] is None for row in result["rows"])


def test_an_object_defined_outside_the_file_gets_no_verdict_from_the_files_other_losses():
    result = probe(f"{TARGETS}::keras_mse", batch_sizes=[8, 16, 32])
    assert result["verdicts"] == []
    assert _check(result, "batch_coupling")["kind"] == "mean"


def test_odd_batch_sizes_still_read_a_mean_as_a_mean():
    result = probe(f"{EXAMPLES}::mean_squared_error", batch_sizes=[9, 17, 33])
    assert _check(result, "batch_coupling")["kind"] == "mean"


def test_a_tuple_returned_by_the_loss_is_an_error_not_a_mean():
    from keras_bsguard.probe.target import ProbeInputError

    with pytest.raises(ProbeInputError, match="returned a tuple of 2 values"):
        probe(f"{TARGETS}::returns_a_pair", batch_sizes=[8, 16])


def test_the_users_own_message_is_kept_when_the_loss_raises():
    from keras_bsguard.probe.target import ProbeInputError

    with pytest.raises(ProbeInputError, match=r"ValueError: needs a dict of targets$"):
        probe(f"{TARGETS}::raises_with_a_message", batch_sizes=[8])


def test_float16_overflow_of_large_errors_is_not_blamed_on_a_plain_mse():
    result = probe(f"{EXAMPLES}::mean_squared_error", dtype="float16", batch_sizes=[8, 16, 32])
    assert not _check(result, "extremes")["problem"]
    assert not has_problem(result)


def test_what_the_loss_prints_does_not_spoil_the_json():
    done = subprocess.run(
        [sys.executable, "-m", "keras_bsguard.cli", "probe", f"{TARGETS}::chatty_mse", "--batch-sizes", "8,16",
         "--output-format", "json"],
        capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": BACKEND}, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["rows"][0]["batch_size"] == 8
    assert "computing the loss" in done.stderr


def test_a_division_by_the_count_of_positives_is_confirmed_on_an_empty_mask():
    result = probe(f"{TARGETS}::positive_recall_loss", target_kind="binary", prediction="probabilities",
                   batch_sizes=[8, 16, 32])
    degenerate = _check(result, "degenerate_batches")
    assert degenerate["finite"] == {"an empty mask (every target 0)": False, "a full mask (every target 1)": True}
    assert ("BSG402", "confirmed") in _verdicts(result)
    assert all(row["finite"] for row in result["rows"])  # random batches always hold a positive


@pytest.mark.backend("torch")
def test_torch_gets_int64_class_ids_and_bfloat16_predictions():
    import torch

    from keras_bsguard.probe.engines import TorchEngine

    engine = TorchEngine()
    assert engine.tensor(np.zeros((4,), np.int32)).dtype == torch.int64
    import ml_dtypes

    assert engine.tensor(np.zeros((4, 3), ml_dtypes.bfloat16)).dtype == torch.bfloat16
    result = probe(f"{EXAMPLES}::mean_squared_error", dtype="bfloat16", batch_sizes=[8, 16, 32])
    assert all(row["error"] is None for row in result["rows"])

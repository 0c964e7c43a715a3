"""Behaviour checks of ``bsguard probe``: each a measured fact about the loss at one batch size.

* ``batch_coupling``: the loss of a batch against the mean loss of its two halves (a mean over
  the batch gives x1, a sum x2; anything else means the samples of a batch interact);
* ``determinism``: the same inputs twice (randomness inside the loss);
* ``near_optimum``: the gradient as the prediction approaches the target: the fraction of exactly
  zero gradient entries (dead zones, step functions) and how the gradient norm shrinks with the
  error (slope ~1 for a smooth minimum, ~0 for a kink);
* ``extremes``: probabilities at exactly 0 and 1, errors x10 and x100: a non-finite loss or
  gradient, and how fast the gradient grows (exp blowups);
* ``compile_growth``: the size of the traced program (and compile time) against the batch size
  (a Python loop over the batch is unrolled once per sample).

Example::

    >>> classify_coupling(2.0)
    'sum'
"""

from __future__ import annotations

import math

import numpy as np

from .inputs import make_batch, near, one_hot, optimum_prediction
from .scaling import fit_exponent


def classify_coupling(ratio: float | None) -> str:
    """From the loss of a batch over the mean loss of its halves: ``mean`` (x1), ``sum`` (x2),
    ``grows`` (x1.5 or more: the loss scales with the batch in another way), ``shrinks`` (x2/3
    or less), ``coupled`` (the samples interact, as in a contrastive loss, but the scale holds)."""
    if ratio is None or not math.isfinite(ratio):
        return "unknown"
    if abs(ratio - 1.0) <= 1e-3:
        return "mean"
    if abs(ratio - 2.0) <= 2e-3:
        return "sum"
    if ratio >= 1.5:
        return "grows"
    if ratio <= 1 / 1.5:
        return "shrinks"
    return "coupled"


def run_checks(compiled, size, shape, target, prediction, dtype, rows, recompile=None) -> list[dict]:
    """Every behaviour check; a check that cannot run here says why instead of a figure."""
    size = max(2, size - size % 2)  # two equal halves for the batch-coupling check
    y_true, y_pred = make_batch(size, shape, target, prediction, dtype)
    checks = []
    for check in (_batch_coupling, _determinism, _near_optimum, _extremes, _degenerate_batches):
        try:
            if check is _determinism:
                checks.append(_determinism(compiled, y_true, y_pred, prediction, recompile))
            elif check is _degenerate_batches:
                checks.append(_degenerate_batches(compiled, y_true, y_pred, target))
            else:
                checks.append(check(compiled, y_true, y_pred, prediction))
        except Exception as error:  # noqa: BLE001 - the user's loss failed on these inputs
            checks.append({"name": check.__name__.lstrip("_"), "batch_size": size, "problem": None,
                           "error": f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"})
    checks.append(_compile_growth(rows))
    return checks


def _finite(loss, grad) -> bool:
    return bool(math.isfinite(loss) and np.all(np.isfinite(grad)))


def _batch_coupling(compiled, y_true, y_pred, prediction):
    half = len(y_true) // 2
    full, _ = compiled.value_and_grad(y_true, y_pred)
    first, _ = compiled.value_and_grad(y_true[:half], y_pred[:half])
    second, _ = compiled.value_and_grad(y_true[half:], y_pred[half:])
    mean_halves = (first + second) / 2
    ratio = full / mean_halves if mean_halves not in (0.0,) and math.isfinite(mean_halves) else None
    kind = classify_coupling(ratio)
    summary = {"mean": f"the loss of a batch is the mean of its halves' (x{ratio:.3f}): no sum over the batch"
               if ratio is not None else "",
               "sum": "the loss doubles when the batch doubles: a sum over the batch (x2)",
               "grows": f"the loss grows with the batch: x{ratio:.2f} for twice the batch (not a plain sum)"
               if ratio is not None else "",
               "shrinks": f"the loss shrinks with the batch: x{ratio:.2f} for twice the batch" if ratio is not None else "",
               "coupled": f"the samples of a batch interact (x{ratio:.3f} for twice the batch): neither a mean nor a sum"
               if ratio is not None else "",
               "unknown": "no finite ratio (the halves' mean loss is 0 or not finite)"}[kind]
    return {"name": "batch_coupling", "batch_size": len(y_true), "loss_batch": full, "loss_halves": [first, second],
            "ratio": ratio, "kind": kind, "problem": kind in ("sum", "grows", "shrinks"), "summary": summary}


def _determinism(compiled, y_true, y_pred, prediction, recompile=None):
    loss_a, grad_a = compiled.value_and_grad(y_true, y_pred)
    loss_b, grad_b = compiled.value_and_grad(y_true, y_pred)
    per_call = _difference(loss_a, grad_a, loss_b, grad_b)
    per_compile = None
    if recompile is not None:  # a fresh trace: NumPy/Python randomness is drawn again at trace time
        loss_c, grad_c = recompile().value_and_grad(y_true, y_pred)
        per_compile = _difference(loss_a, grad_a, loss_c, grad_c)
    random_per_call = per_call is not None and per_call > 1e-6
    frozen = not random_per_call and per_compile is not None and per_compile > 1e-6
    if random_per_call:
        summary = f"the same inputs gave different results call to call (relative difference {per_call:.3g}): randomness inside the loss"
    elif frozen:
        summary = (f"each compile gives different results (relative difference {per_compile:.3g}) but every call of one compile "
                   "the same: random values frozen into the compiled step at trace time")
    else:
        summary = "the same inputs give the same loss and gradient" + (", also after a fresh trace" if per_compile is not None else "")
    return {"name": "determinism", "batch_size": len(y_true), "difference_per_call": per_call,
            "difference_per_compile": per_compile, "random_per_call": random_per_call, "frozen_at_trace": frozen,
            "problem": random_per_call or frozen, "summary": summary}


def _difference(loss_a, grad_a, loss_b, grad_b) -> float:
    """Largest relative difference between two (loss, gradient) results (NaN-aware)."""
    values = [abs(loss_a - loss_b) / max(abs(loss_a), 1e-12) if math.isfinite(loss_a) and math.isfinite(loss_b)
              else (0.0 if (math.isnan(loss_a) and math.isnan(loss_b)) or loss_a == loss_b else float("inf"))]
    if grad_a.size:
        both = np.isfinite(grad_a) & np.isfinite(grad_b)
        scale = max(float(np.max(np.abs(grad_a[both]))) if both.any() else 0.0, 1e-12)
        values.append(float(np.max(np.abs(grad_a[both] - grad_b[both]))) / scale if both.any() else 0.0)
        if not np.array_equal(np.isfinite(grad_a), np.isfinite(grad_b)):
            values.append(float("inf"))
    return max(values)


def _near_optimum(compiled, y_true, y_pred, prediction):
    base_loss, base_grad = compiled.value_and_grad(y_true, y_pred)
    zero_at_random = float(np.mean(base_grad == 0)) if base_grad.size else 1.0
    errors = [1e-1, 1e-2, 1e-3]
    norms, zero_fractions = [], []
    for error in errors:
        _, grad = compiled.value_and_grad(y_true, near(y_true, y_pred, prediction, error))
        norms.append(float(np.linalg.norm(grad)) if np.all(np.isfinite(grad)) else float("nan"))
        zero_fractions.append(float(np.mean(grad == 0)))
    at_loss, at_grad = compiled.value_and_grad(y_true, optimum_prediction(y_true, y_pred))
    finite_norms = [(e, n) for e, n in zip(errors, norms) if math.isfinite(n) and n > 0]
    slope = None
    if len(finite_norms) >= 2:
        slope = float(np.polyfit(np.log([e for e, _ in finite_norms]), np.log([n for _, n in finite_norms]), 1)[0])
    dead_zone = zero_fractions[1] >= 0.5 and zero_at_random < 0.5
    no_gradient = zero_at_random >= 0.999
    # A kink (|error|) flips its gradient with the error's sign; a target that is simply not the
    # loss's minimum (a pairwise or regularising term) gives the same gradient on both sides.
    flip = None
    if prediction == "values" and slope is not None and slope < 0.3:
        _, plus = compiled.value_and_grad(y_true, near(y_true, y_pred, prediction, 1e-3, seed=3))
        _, minus = compiled.value_and_grad(y_true, (2 * optimum_prediction(y_true, y_pred)
                                                    - near(y_true, y_pred, prediction, 1e-3, seed=3)).astype(y_pred.dtype))
        spread = float(np.linalg.norm(plus - minus))
        flip = float(np.linalg.norm(plus + minus)) / spread if spread > 0 else None
    kink = flip is not None and flip < 0.5 and not dead_zone
    problems, notes = [], []
    if no_gradient:
        problems.append("the gradient is zero everywhere on a random batch (a step function: nothing to learn from)")
    if dead_zone:  # by design in a margin or hinge loss: a fact for BSG301, not a problem by itself
        notes.append(f"{zero_fractions[1]:.0%} of gradient entries are exactly 0 at errors of 1e-2: a dead zone "
                     "around the target (by design in a margin or hinge loss)")
    if kink:
        notes.append(f"the gradient norm does not shrink near the target (slope {slope:.2f} in log-log) and flips "
                     "with the error's sign: a kink at zero error (informational)")
    return {"name": "near_optimum", "batch_size": len(y_true), "errors": errors, "gradient_norms": norms,
            "zero_gradient_fractions": zero_fractions, "zero_gradient_fraction_random": zero_at_random,
            "norm_slope": slope, "finite_at_optimum": _finite(at_loss, at_grad), "dead_zone": dead_zone,
            "kink": kink, "no_gradient": no_gradient, "problem": bool(problems), "info": bool(notes),
            "summary": "; ".join(problems + notes) or "no dead zone and no step function near the target"}


def _extremes(compiled, y_true, y_pred, prediction):
    results, problems = {}, []
    optimum = optimum_prediction(y_true, y_pred)
    if prediction == "probabilities":
        for label, probe in (("probabilities_at_target", optimum), ("probabilities_opposite", 1.0 - optimum)):
            loss, grad = compiled.value_and_grad(y_true, probe.astype(y_pred.dtype))
            results[label] = _finite(loss, grad)
            if not results[label]:
                problems.append(f"non-finite loss or gradient with probabilities at exactly 0 and 1 ({label.split('_', 1)[1].replace('_', ' ')})")
    else:
        rng = np.random.default_rng(2)
        noise = rng.normal(size=y_pred.shape)
        norms = {}
        # In a 16-bit float, errors x100 squared already pass its largest value (65504 in float16):
        # that overflow belongs to the dtype, not the loss, so it stops at x10 there.
        scales = (1, 10) if np.dtype(y_pred.dtype).itemsize <= 2 else (1, 10, 100)
        if len(scales) == 2:
            results["note"] = "errors x100 not tried in a 16-bit float"
        for scale in scales:
            loss, grad = compiled.value_and_grad(y_true, (optimum + scale * noise).astype(y_pred.dtype))
            finite = _finite(loss, grad)
            results[f"finite_at_x{scale}"] = finite
            norms[scale] = float(np.linalg.norm(grad)) if finite else float("inf")
            if not finite:
                problems.append(f"non-finite loss or gradient at errors x{scale}")
        if 100 in norms and math.isfinite(norms[10]) and norms[10] > 0 and math.isfinite(norms[100]):
            growth = norms[100] / norms[10]
            results["gradient_growth_x10_to_x100"] = growth
            if growth > 1e3:
                problems.append(f"the gradient grows x{growth:.3g} when the errors grow x10 (an exponential blowup)")
    return {"name": "extremes", "batch_size": len(y_true), **results, "problem": bool(problems),
            "summary": "; ".join(problems) or "finite loss and gradient at the extremes tried"}


def _degenerate_batches(compiled, y_true, y_pred, target):
    """Batches a real data set does produce and random ones never do: an empty mask (every target
    0), a full one, one class for the whole batch, every sample its own class. A loss that divides
    by a count of positives or of classes is not finite there."""
    batch = len(y_true)
    if target == "binary":
        cases = [("an empty mask (every target 0)", np.zeros_like(y_true)),
                 ("a full mask (every target 1)", np.ones_like(y_true))]
    elif target == "onehot":
        classes = y_true.shape[-1]
        cases = [("one class for the whole batch", one_hot(np.zeros(y_true.shape[:-1], np.int64), classes, y_true.dtype))]
        if classes >= batch:
            ids = np.broadcast_to(np.arange(batch).reshape((batch,) + (1,) * (y_true.ndim - 2)), y_true.shape[:-1])
            cases.append(("every sample its own class", one_hot(ids, classes, y_true.dtype)))
    elif target == "sparse":
        classes = y_pred.shape[-1]
        cases = [("one class for the whole batch", np.zeros_like(y_true))]
        if classes >= batch:
            ids = np.broadcast_to(np.arange(batch).reshape((batch,) + (1,) * (y_true.ndim - 1)), y_true.shape)
            cases.append(("every sample its own class", ids.astype(y_true.dtype)))
    else:
        return {"name": "degenerate_batches", "batch_size": batch, "problem": None,
                "summary": "not measurable here: regression targets have no empty mask or class to lose"}
    finite, problems = {}, []
    for label, degenerate in cases:
        loss, grad = compiled.value_and_grad(np.ascontiguousarray(degenerate), y_pred)
        finite[label] = _finite(loss, grad)
        if not finite[label]:
            problems.append(f"non-finite loss or gradient with {label}")
    return {"name": "degenerate_batches", "batch_size": batch, "finite": finite, "problem": bool(problems),
            "summary": "; ".join(problems) or "finite with " + ", ".join(finite)}


def _compile_growth(rows) -> dict:
    good = [row for row in rows if row.error is None]
    sizes = [row.batch_size for row in good]
    program = fit_exponent(sizes, [row.program_size for row in good])
    compile_fit = fit_exponent(sizes, [row.compile_seconds for row in good])
    if program is None:
        return {"name": "compile_growth", "problem": None, "program_exponent": None,
                "compile_exponent": compile_fit and compile_fit["value"],
                "summary": "not measurable here: no traced program to count (the loss ran eagerly) or under 3 sizes"}
    grows = program["value"] >= 0.5
    first, last = good[0], good[-1]
    return {"name": "compile_growth", "program_exponent": program["value"], "compile_exponent": compile_fit and compile_fit["value"],
            "program_sizes": {row.batch_size: row.program_size for row in good}, "problem": grows,
            "summary": (f"the traced program grows with the batch ({first.program_size} operations at batch {first.batch_size}, "
                        f"{last.program_size} at {last.batch_size}): a Python loop unrolled per sample") if grows
            else f"the traced program has the same size at every batch size ({last.program_size} operations)"}

"""``probe()``: measure how one loss scales with the batch size, and judge the linter's findings.

This imports and runs the user's code (``bsguard lint`` never does).

Example::

    >>> import keras, pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "losses.py").write_text(
    ...     "from keras import ops\\n"
    ...     "def summed_mse(y_true, y_pred):\\n"
    ...     "    return ops.sum(ops.square(y_true - y_pred))\\n")
    >>> result = probe(f"{folder}/losses.py::summed_mse", batch_sizes=[8, 16, 32])
    >>> result["checks"][0]["kind"], [v["verdict"] for v in result["verdicts"]]
    ('sum', ['confirmed'])
"""

from __future__ import annotations

from .backend import select_backend
from .checks import run_checks
from .engines import make_engine
from .inputs import default_kinds, make_batch
from .kinds import PREDICTIONS, TARGETS
from .scaling import doubling_sizes, exponents, projection, sweep
from .target import ProbeInputError, load_loss, parse_target
from .verdicts import lint_findings, tail_fit, unflagged, verdict_for

def probe(target: str, backend: str | None = None, shape=(10,), target_kind: str | None = None,
          prediction: str | None = None, batch_sizes: list[int] | None = None, dtype: str = "float32",
          init: dict | None = None, order: str = "auto", budget_seconds: float = 30.0,
          max_memory: int | None = 2 << 30, project_to: int = 8192, say=lambda text: None) -> dict:
    """Measure the loss named by ``FILE::NAME``; returns the JSON-ready result (see ``bsguard probe``)."""
    spec = parse_target(target)
    if not spec.path.is_file():
        raise ProbeInputError(f"no such file: {spec.path}")
    backend = select_backend(backend)
    loaded = load_loss(spec, init=init, order=order)
    guessed_target, guessed_prediction = default_kinds(spec.name.split(".")[-1])
    target_kind = target_kind or guessed_target
    prediction = prediction or (guessed_prediction if target_kind == guessed_target else
                                ("values" if target_kind == "regression" else "probabilities"))
    if target_kind not in TARGETS:
        raise ProbeInputError(f"--target must be one of {', '.join(TARGETS)}")
    if prediction not in PREDICTIONS:
        raise ProbeInputError(f"--pred must be one of {', '.join(PREDICTIONS)}")
    shape = tuple(int(part) for part in shape)
    if target_kind in ("onehot", "sparse") and (not shape or shape[-1] < 2):
        raise ProbeInputError("--target onehot/sparse needs at least 2 classes in the last axis of --shape")
    if backend == "jax" and dtype == "float64":
        import jax

        if not jax.config.jax_enable_x64:
            raise ProbeInputError("--dtype float64 on JAX needs 64-bit mode: set JAX_ENABLE_X64=1")
    engine = make_engine(backend)
    compiled = engine.compile(loaded.function, loaded.prediction_first)
    explicit = batch_sizes is not None
    sizes = list(batch_sizes) if explicit else doubling_sizes()
    rows, stopped = sweep(compiled, sizes, shape, target_kind, prediction, dtype, budget_seconds, max_memory,
                          explicit, say)
    notes = []
    mode = "compiled" if backend != "torch" else "eager"
    if backend != "torch" and rows and all(row.error for row in rows):
        first_error = rows[0].error
        eager = engine.compile(loaded.function, loaded.prediction_first, eager=True)
        retry, stopped = sweep(eager, sizes, shape, target_kind, prediction, dtype, budget_seconds, max_memory,
                               explicit, say)
        if any(row.error is None for row in retry):
            notes.append(f"the compiled call failed ({first_error}); measured eagerly instead (run_eagerly=True)")
            compiled_failure, rows, compiled, mode = first_error, retry, eager, "eager"
        else:
            raise ProbeInputError(f"the loss failed at batch {rows[0].batch_size}: {first_error}")
    elif rows and all(row.error for row in rows):
        raise ProbeInputError(f"the loss failed at batch {rows[0].batch_size}: {rows[0].error}")
    else:
        compiled_failure = None
    fits = exponents(rows)
    fits_for_verdicts = dict(fits, memory_tail=tail_fit(rows, "peak_bytes"), time_tail=tail_fit(rows, "seconds"))
    if ran_rows := [row for row in rows if row.error is None]:
        if not any(row.finite for row in ran_rows):
            notes.append("the loss or its gradient is not finite on the plain random batch at every size: these "
                         "inputs may not suit this loss (see --target, --pred, --shape)")
    unsized = max((row.unsized_tensors for row in rows), default=0)
    if unsized:  # the memory figures miss tensors of data-dependent shape: judge by time instead
        notes.append(f"{unsized} tensors of the traced graph have a data-dependent shape (boolean_mask, "
                     "dynamic_partition, where) that TensorFlow cannot size before running: the memory figures "
                     "leave them out, and the verdicts use time instead of memory")
        fits_for_verdicts.update(memory_tail=None, memory=None)
    ran = [row for row in rows if row.error is None]
    check_size = max([row.batch_size for row in ran if row.batch_size <= 64] or [ran[0].batch_size])
    recompile = None if mode == "eager" else (lambda: engine.compile(loaded.function, loaded.prediction_first))
    checks = run_checks(compiled, check_size, shape, target_kind, prediction, dtype, rows, recompile)
    by_name = {check["name"]: check for check in checks}
    coupling, determinism = by_name.get("batch_coupling", {}), by_name.get("determinism", {})
    if determinism.get("problem") and coupling.get("kind") == "coupled":  # the halves drew other noise
        coupling.update(kind="unknown", problem=None,
                        summary="not measurable: the loss is random (see determinism), so the halves differ anyway")
    checks.append(_memory_reference(engine, rows, shape, target_kind, prediction, dtype, mode, unsized))
    by_name["memory_reference"] = checks[-1]
    failing_rows = rows if compiled_failure is None else [type(rows[0])(batch_size=rows[0].batch_size,
                                                                           error=compiled_failure)]
    findings = lint_findings(loaded)
    verdicts = []
    for finding in findings:
        verdict, evidence = verdict_for(finding.code, by_name, failing_rows if finding.code in ("BSG701", "BSG702")
                                        else rows, fits_for_verdicts, backend if mode == "compiled" else "torch")
        if mode == "eager" and finding.code in ("BSG701", "BSG702") and compiled_failure:
            verdict, evidence = "confirmed", f"the compiled call failed: {compiled_failure}"
        verdicts.append({"code": finding.code, "line": finding.row, "message": finding.message, "verdict": verdict,
                         "evidence": evidence})
    return {
        "target": target, "backend": backend, "mode": mode, "shape": list(shape), "target_kind": target_kind,
        "prediction": prediction, "dtype": dtype, "order": "pred,true" if loaded.prediction_first else "true,pred",
        "memory_method": compiled.memory_method, "rows": [row.as_dict() for row in rows], "stopped": stopped,
        "exponents": {key: (None if fit is None else {"value": fit["value"], "r2": fit["r2"]})
                      for key, fit in fits.items()},
        "exponents_tail": {key: (None if fit is None else {"value": fit["value"], "r2": fit["r2"]})
                           for key, fit in (("time", fits_for_verdicts["time_tail"]),
                                            ("memory", fits_for_verdicts["memory_tail"]))},
        "projection": projection(rows, {"time": fits_for_verdicts["time_tail"] or fits["time"],
                                        "memory": fits_for_verdicts["memory_tail"] or fits["memory"],
                                        "compile": fits["compile"]}, project_to), "checks": checks, "verdicts": verdicts,
        "unflagged": unflagged(by_name, fits_for_verdicts, {f.code for f in findings}), "notes": notes,
    }


def _memory_reference(engine, rows, shape, target_kind, prediction, dtype, mode, unsized=0) -> dict:
    """Peak memory of the loss against a plain mean squared error compiled the same way, at the
    largest batch size that ran (where the loss's own intermediates dominate)."""
    from keras import ops

    ran = [row for row in rows if row.error is None and row.peak_bytes]
    if mode == "eager" and engine.name != "torch" or not ran:
        return {"name": "memory_reference", "problem": None, "summary": "not measurable here: no memory figure"}
    if unsized:
        return {"name": "memory_reference", "problem": None,
                "summary": "not measurable here: the memory figure leaves out tensors of data-dependent shape"}
    last = ran[-1]
    reference = engine.compile(lambda y_true, y_pred: ops.mean(ops.square(y_pred), axis=-1), prediction_first=False)
    y_true, y_pred = make_batch(last.batch_size, shape, target_kind, prediction, dtype)
    reference_bytes = reference.prepare(y_true, y_pred)["peak_bytes"]
    if not reference_bytes:
        return {"name": "memory_reference", "problem": None, "summary": "not measurable here: no memory figure"}
    ratio = last.peak_bytes / reference_bytes
    return {"name": "memory_reference", "batch_size": last.batch_size, "peak_bytes": last.peak_bytes,
            "reference_bytes": reference_bytes, "ratio": ratio, "problem": None,
            "summary": f"peak memory x{ratio:.1f} that of a plain mean squared error at the same batch size"}


def has_problem(result: dict) -> bool:
    """A finding confirmed, or a problem measured that no finding names."""
    return any(v["verdict"] == "confirmed" for v in result["verdicts"]) or bool(result["unflagged"])

"""Tie ``bsguard probe``'s measurements to ``bsguard lint``'s findings on the same loss.

Each finding of the linter inside the probed loss gets **confirmed** (a measurement shows the
problem), **not confirmed** (the measurement that should show it does not) or **not measurable
here** (this backend or these synthetic inputs cannot show it), with the measurement quoted.
Problems that a check measured and no finding names are listed apart.

Example::

    >>> verdict_for("BSG501", {"batch_coupling": {"kind": "sum", "ratio": 2.0, "problem": True}}, [], {}, "jax")
    ('confirmed', 'the loss doubles with the batch: full batch / mean of its halves = x2.00')
"""

from __future__ import annotations

import math

# Which check measures which rule, for "measured, not flagged".
CHECK_CODES = {"batch_coupling": ("BSG501",), "determinism": ("BSG201", "BSG202"), "extremes": ("BSG401", "BSG402"),
               "degenerate_batches": ("BSG402",),
               "compile_growth": ("BSG101",), "memory_growth": ("BSG601", "BSG602", "BSG101"),
               "near_optimum": ("BSG301", "BSG302", "BSG303")}
SUPERLINEAR = 1.6  # a B x B intermediate shows as an exponent near 2 once it dominates
BLOWUP_FACTOR = 10  # peak memory over that of a plain mean squared error at the same batch size


def lint_findings(loaded) -> list:
    """The linter's findings (default rules) inside the probed object's source lines and inside
    the functions of the same file that it calls, directly or through each other."""
    from keras_bsguard.lint.api import lint_source

    try:
        data = loaded.source_file.read_bytes()
    except OSError:
        return []
    if loaded.first_line is None:  # the loss is not defined in the file (keras.losses.X, a lambda elsewhere)
        return []
    findings = [f for f in lint_source(data, str(loaded.source_file)) if f.code != "BSG000"]
    spans = reached_spans(data, loaded.first_line, loaded.last_line)
    return [f for f in findings if any(first <= f.row <= last for first, last in spans)]


def reached_spans(source: bytes, first: int, last: int) -> list[tuple[int, int]]:
    """Line spans of the probed object and of every function or method of the file it reaches by
    name (``helper(...)``, ``self.helper(...)``, ``module.helper(...)`` where ``helper`` is defined
    in the file); a name defined twice counts both definitions."""
    import ast

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return [(first, last)]
    definitions: dict[str, list[tuple[int, int]]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            definitions.setdefault(node.name, []).append((node.lineno, node.end_lineno or node.lineno))

    def called_names(span):
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and span[0] <= getattr(node, "lineno", 0) <= span[1]:
                target = node.func
                name = target.id if isinstance(target, ast.Name) else (
                    target.attr if isinstance(target, ast.Attribute) else None)
                if name in definitions:
                    names.add(name)
        return names

    spans, todo, seen = [(first, last)], [(first, last)], set()
    while todo:
        span = todo.pop()
        for name in called_names(span) - seen:
            seen.add(name)
            for defined in definitions[name]:
                if not (first <= defined[0] and defined[1] <= last):
                    spans.append(defined)
                    todo.append(defined)
    return spans


def verdict_for(code: str, checks: dict, rows: list, fits: dict, backend: str) -> tuple[str, str]:
    """(verdict, the measurement behind it) for one rule code: ``confirmed``, ``not_confirmed`` or
    ``not_measurable``."""
    coupling = checks.get("batch_coupling", {})
    determinism = checks.get("determinism", {})
    near = checks.get("near_optimum", {})
    extremes = checks.get("extremes", {})
    growth = checks.get("compile_growth", {})
    if code == "BSG501":
        if coupling.get("ratio") is None:
            return "not_measurable", coupling.get("summary") or coupling.get("error", "no ratio")
        text = f"full batch / mean of its halves = x{coupling['ratio']:.2f}"
        if coupling.get("kind") == "sum":
            return "confirmed", f"the loss doubles with the batch: {text}"
        if coupling.get("kind") == "grows":
            return "confirmed", f"the loss grows with the batch (not a plain sum): {text}"
        return "not_confirmed", f"{text} ({coupling.get('kind')})"
    if code in ("BSG201", "BSG202"):
        if determinism.get("problem") is None:
            return "not_measurable", determinism.get("error", "")
        return ("confirmed" if determinism["problem"] else "not_confirmed"), determinism["summary"]
    if code == "BSG101":
        if growth.get("problem") is None:
            return _eager_loop(rows, fits) or ("not_measurable", growth.get("summary", ""))
        return ("confirmed" if growth["problem"] else "not_confirmed"), growth["summary"]
    if code in ("BSG301", "BSG302", "BSG303"):
        key = {"BSG301": "dead_zone", "BSG302": "no_gradient", "BSG303": "kink"}[code]
        if near.get("problem") is None:
            return "not_measurable", near.get("error", "")
        figures = (f"zero-gradient fraction {near['zero_gradient_fractions'][1]:.0%} at errors 1e-2, "
                   f"{near['zero_gradient_fraction_random']:.0%} on a random batch; gradient-norm slope "
                   + ("n/a" if near["norm_slope"] is None else f"{near['norm_slope']:.2f}"))
        return ("confirmed" if near[key] else "not_confirmed"), figures
    if code in ("BSG401", "BSG402"):
        ran = [row for row in rows if row.error is None]
        if ran and not any(row.finite for row in ran):
            return "not_measurable", ("the loss or its gradient is not finite on the plain random batch at every size: "
                                      "these inputs may not suit this loss (see --target, --pred)")
        if extremes.get("problem") is None:
            return "not_measurable", extremes.get("error", "")
        if code == "BSG402" and near.get("finite_at_optimum") is False:
            return "confirmed", "non-finite loss or gradient at the target itself"
        degenerate = checks.get("degenerate_batches", {})
        if code == "BSG402" and degenerate.get("problem"):
            return "confirmed", degenerate["summary"]
        if extremes["problem"]:
            return "confirmed", extremes["summary"]
        tried = degenerate.get("finite")
        untried = ((f" and with {', '.join(tried)}" if tried else "") + " with these synthetic inputs; a zero that needs "
                   "other particular data is not tried") if code == "BSG402" else ""
        return "not_confirmed", extremes["summary"] + untried
    if code == "BSG502":
        failed = [row for row in rows if row.error]
        ran = [row for row in rows if not row.error]
        if failed and ran:
            return "confirmed", f"ran at batch {ran[0].batch_size}, failed at {failed[0].batch_size}: {failed[0].error}"
        if ran and not failed:
            return "not_confirmed", f"ran at every batch size tried ({', '.join(str(r.batch_size) for r in ran)})"
        return "not_measurable", "no batch size ran"
    if code == "BSG601":
        what = "memory" if fits.get("memory_tail") and fits.get("memory") else "time"
        tail, whole = fits.get(f"{what}_tail"), fits.get(what)
        if tail is None:
            return "not_measurable", "fewer than 3 batch sizes ran"
        # XLA may change how it lays out a B x B intermediate between sizes (one copy instead of
        # two): the exponent over all sizes or over the largest ones, whichever is steeper.
        best = max(tail["value"], whole["value"] if whole else tail["value"])
        text = (f"{what} ~ B^{tail['value']:.2f} over the largest sizes, B^{whole['value']:.2f} over all"
                if whole else f"{what} ~ B^{tail['value']:.2f} over the largest sizes")
        if best >= SUPERLINEAR:
            return "confirmed", text
        if what == "time":  # no memory figure: fixed costs dominate the time of small batches
            return "not_measurable", (f"{text}; no complete memory figure here, and time at these sizes is "
                                      "dominated by fixed costs (try larger --batch-sizes)")
        return "not_confirmed", text
    if code == "BSG602":
        reference = checks.get("memory_reference", {})
        if not reference.get("ratio"):
            return "not_measurable", reference.get("summary", "no memory figure to compare")
        text = (f"peak memory x{reference['ratio']:.1f} that of a plain mean squared error at batch "
                f"{reference['batch_size']} ({reference['peak_bytes']} vs {reference['reference_bytes']} bytes)")
        if reference["ratio"] >= BLOWUP_FACTOR:
            return "confirmed", text
        return "not_confirmed", text + (f" on {backend}: the compiled call never materialises the blown-up tensor "
                                        "(XLA fuses it into its reduction)" if backend == "jax" else "")
    if code in ("BSG701", "BSG702"):
        if backend == "torch":
            return "not_measurable", "torch runs the loss eagerly: no compiled step to break"
        failed = [row for row in rows if row.error]
        if failed and len(failed) == len(rows):
            return "confirmed", f"the compiled call failed: {failed[0].error}"
        return "not_confirmed", "the compiled call traced and ran"
    return "not_measurable", "no measurement of this rule"


def _eager_loop(rows, fits) -> tuple[str, str] | None:
    """Eagerly (torch) a Python loop over the batch costs tens of microseconds per sample, while a
    vectorised loss on loss-sized tensors costs well under one: time ~ B and the cost per sample."""
    fit, whole = fits.get("time_tail"), fits.get("time")
    ran = [row for row in rows if row.error is None and row.seconds]
    if fit is None or not ran:
        return None
    per_sample = ran[-1].seconds / ran[-1].batch_size
    slope = max(fit["value"], whole["value"] if whole else fit["value"])  # one noisy size bends the tail
    text = (f"time ~ B^{fit['value']:.2f} over the largest sizes, {per_sample * 1e6:.1f} us per sample at batch "
            f"{ran[-1].batch_size} (eager: no traced program to count)")
    return ("confirmed" if slope >= 0.6 and per_sample >= 20e-6 else "not_confirmed"), text


def unflagged(checks: dict, fits: dict, codes: set[str]) -> list[dict]:
    """Problems measured by a check that no finding of the linter names."""
    found = []
    for name, check in checks.items():
        if check.get("problem") and not set(CHECK_CODES.get(name, ())) & codes:
            found.append({"check": name, "summary": check.get("summary", "")})
    fit = fits.get("memory_tail") or fits.get("time_tail")
    # A loop over the batch (BSG101) also grows memory: TensorFlow's gradient of each slice is a
    # full-batch tensor, so an unrolled loop holds B of them.
    if fit and fit["value"] >= SUPERLINEAR and not {"BSG601", "BSG602", "BSG101"} & codes:
        found.append({"check": "memory_growth", "summary": f"memory or time grows as B^{fit['value']:.2f}"})
    return found


def tail_fit(rows, key: str) -> dict | None:
    """The exponent over the three largest sizes that ran (where the loss's own terms dominate)."""
    from .scaling import fit_exponent

    good = [row for row in rows if row.error is None and getattr(row, key)]
    if len(good) < 3:
        return None
    good = good[-3:]
    fit = fit_exponent([row.batch_size for row in good], [getattr(row, key) for row in good])
    return fit if fit and math.isfinite(fit["value"]) else None

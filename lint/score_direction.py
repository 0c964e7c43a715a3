"""Whether a function returns a signal-to-error score (PSNR, SNR): a value that falls as the error grows.

A loss is minimised, so it grows with the error between its target and its prediction. A
function of ``(target, prediction)`` whose every ``return`` is a log of a signal over the error
(``10 * log10(max_val ** 2 / mse)``), an inverse of it, or a constant minus a log of it
(``20 * log10(max_val) - 10 * log10(mse)``) falls as the error grows: minimising it would make
the fit worse. It is a score to maximise or to report, not a loss, whatever its name says;
the loss that trains on it negates it (``loss = -psnr(y, p)``), and that caller is linted with
it as its helper.

A negated error alone (``return -mse``) is not enough: adversarial objectives maximise an error
on purpose. The flip must come from a division by the error or a log of it.

    >>> import libcst as cst
    >>> def first_function(code):
    ...     return cst.parse_module(code).body[0]
    >>> returns_signal_to_error_score(first_function(
    ...     "def psnr_loss(pred, true, max_val=1.0):\\n"
    ...     "    mse = jnp.mean((pred - true) ** 2)\\n"
    ...     "    return 20 * jnp.log10(max_val) - 10 * jnp.log10(mse)\\n"))
    True
    >>> returns_signal_to_error_score(first_function(
    ...     "def rel_err(y_true, y_pred):\\n    return tf.norm(y_true - y_pred) / tf.norm(y_true)\\n"))
    False
"""

from __future__ import annotations

import libcst as cst

from .module_index import bound_names
from .names import called_name, dotted_parts
from .tree import own_nodes

# calls that keep the direction of their first argument (reductions, monotone maps, reshapes)
_KEEPS = frozenset({"mean", "reduce_mean", "sum", "reduce_sum", "nanmean", "sqrt", "cast", "reshape",
                    "squeeze", "flatten", "float", "double", "to", "type", "view"})
_LOGS = frozenset({"log", "log10", "log2", "log1p"})
# error magnitudes: their value grows with |a - b|
_MAGNITUDES = frozenset({"square", "abs", "absolute", "norm", "l2_norm", "fabs"})
# helpers named for an error measure (mse_loss(pred, true), mean_squared_error(a, b))
_ERROR_NAMES = ("mse", "mae", "rmse", "l1", "l2", "squared_error", "absolute_error", "_loss", "loss_")

# similarity scores of an image library, called through its module (``tf.image.ssim``,
# ``pytorch_msssim.ms_ssim``): they fall as the images differ (a same-file ``ssim`` may return
# ``1 - ssim`` already, so bare names are not read)
_SIMILARITY_SCORES = frozenset({"ssim", "ssim_multiscale", "ms_ssim", "psnr"})
_SIMILARITY_MODULES = frozenset({"image", "pytorch_msssim", "piq", "metrics", "functional"})

UP, DOWN, UNKNOWN = 1, -1, 0


def returns_signal_to_error_score(function: cst.FunctionDef) -> bool:
    """Whether every ``return`` of ``function`` (its own, not nested functions') falls as the error
    between its first two parameters grows, through a division by the error or a log of it."""
    params = [p.name.value for p in function.params.params if p.name.value not in ("self", "cls")]
    if len(params) < 2 or not any(_names_a_target(name) for name in params[:2]):
        return False  # two outputs (fake1, fake2): a loss that pushes them apart falls as they differ
    reader = _DirectionReader(function, params[0], params[1])
    returned = [node.value for node in own_nodes(function) if isinstance(node, cst.Return)]
    if not returned or any(value is None for value in returned):
        return False
    return all(reader.direction(value) == (DOWN, True) for value in returned)


_TARGET_WORDS = frozenset({"true", "target", "targets", "gt", "label", "labels", "ref", "reference", "clean",
                           "original", "orig", "ground", "truth", "real", "hr"})


def _names_a_target(name: str) -> bool:
    """``y_true``, ``true_val``, ``target``, ``gt_img``, ``labels``: the reference the error is taken from."""
    words = {word for word in name.lower().replace("-", "_").split("_") if word}
    return bool(words & _TARGET_WORDS) or name.lower() in ("y", "yt", "ytrue")


class _DirectionReader:
    def __init__(self, function: cst.FunctionDef, first: str, second: str) -> None:
        self.pair = frozenset({first, second})
        self.assigned: dict[str, list[cst.BaseExpression]] = {}
        # nested functions by name: the branches ``tf.cond(small, single_scale, multiscale)`` picks
        self.nested = {node.name.value: node for node in function.body.body if isinstance(node, cst.FunctionDef)} \
            if isinstance(function.body, cst.IndentedBlock) else {}
        for node in own_nodes(function):
            if isinstance(node, cst.Assign):
                for target in node.targets:
                    if isinstance(target.target, cst.Name):
                        self.assigned.setdefault(target.target.value, []).append(node.value)
                    else:
                        for name in bound_names(target.target):
                            self.assigned.setdefault(name, []).append(None)
            elif isinstance(node, (cst.AugAssign, cst.AnnAssign)) and isinstance(node.target, cst.Name):
                self.assigned.setdefault(node.target.value, []).append(node.value)
            elif isinstance(node, (cst.For, cst.With, cst.CompFor)):
                for name in bound_names(getattr(node, "target", None)):
                    self.assigned.setdefault(name, []).append(None)

    # ---- which parameters a value is computed from ------------------------------------
    def sources(self, node, depth: int = 0) -> frozenset:
        if depth > 20:
            return self.pair
        if isinstance(node, cst.Name):
            if node.value in self.pair:
                return frozenset({node.value})
            values = self.assigned.get(node.value)
            if values is None:
                return frozenset()
            if len(values) != 1 or values[0] is None:
                return self.pair  # reassigned or unpacked: could be anything
            return self.sources(values[0], depth + 1)
        found: frozenset = frozenset()
        for child in node.children:
            if isinstance(child, cst.CSTNode):
                found |= self.sources(child, depth + 1)
        return found

    def _free_of_prediction(self, node) -> bool:
        """A constant, a hyperparameter, or a value of one of the pair only (the signal's power)."""
        return self.sources(node) != self.pair

    # ---- direction of a value as the error grows: (sign, flipped by an inverse or a log) ----
    def direction(self, node, depth: int = 0) -> tuple[int, bool]:
        if depth > 20:
            return UNKNOWN, False
        if isinstance(node, cst.Name):
            values = self.assigned.get(node.value)
            if values and len(values) == 1 and values[0] is not None:
                return self.direction(values[0], depth + 1)
            return UNKNOWN, False
        if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
            sign, through = self.direction(node.expression, depth + 1)
            return -sign, through
        if isinstance(node, cst.BinaryOperation):
            return self._binary(node, depth)
        if isinstance(node, cst.Call):
            return self._call(node, depth)
        return UNKNOWN, False

    def _binary(self, node: cst.BinaryOperation, depth: int) -> tuple[int, bool]:
        left, right = node.left, node.right
        operator = node.operator
        if isinstance(operator, cst.Subtract):
            if _is_error(left, right, self):
                return UP, False
            if self._free_of_prediction(right):
                return self.direction(left, depth + 1)
            if self._free_of_prediction(left):
                sign, through = self.direction(right, depth + 1)
                return -sign, through
            return UNKNOWN, False
        if isinstance(operator, cst.Add):
            if self._free_of_prediction(right):
                return self.direction(left, depth + 1)
            if self._free_of_prediction(left):
                return self.direction(right, depth + 1)
            return UNKNOWN, False
        if isinstance(operator, cst.Multiply):
            for factor, other in ((left, right), (right, left)):
                if self.sources(factor):
                    continue
                sign, through = self.direction(other, depth + 1)
                return (-sign if _negative_literal(factor) else sign), through
            return UNKNOWN, False
        if isinstance(operator, cst.Divide):
            if self._free_of_prediction(right):
                sign, through = self.direction(left, depth + 1)
                return (-sign if _negative_literal(right) else sign), through
            if self._free_of_prediction(left) and not _negative_literal(left):
                sign, _ = self.direction(right, depth + 1)
                return -sign, sign != UNKNOWN
            return UNKNOWN, False
        if isinstance(operator, cst.Power):
            exponent = _literal(right)
            if exponent is not None and exponent > 0:
                if _is_error_node(left, self):
                    return UP, False
                return self.direction(left, depth + 1)
        return UNKNOWN, False

    def _call(self, node: cst.Call, depth: int) -> tuple[int, bool]:
        name = called_name(node)
        if name is None:
            return UNKNOWN, False
        parts = dotted_parts(node.func)
        if name in _SIMILARITY_SCORES and parts and len(parts) >= 2 and parts[-2] in _SIMILARITY_MODULES \
                and self.sources(node) == self.pair:
            return DOWN, True  # tf.image.ssim(y_true, y_pred): 1 for equal images, less as they differ
        if name == "cond" and len(node.args) >= 3:
            # tf.cond(test, branch_a, branch_b) over nested functions: the direction both share
            directions = {self._branch(arg.value, depth) for arg in node.args[1:3]}
            return directions.pop() if len(directions) == 1 else (UNKNOWN, False)
        arguments = [a.value for a in node.args if a.keyword is None]
        receiver = node.func.value if isinstance(node.func, cst.Attribute) else None
        first = arguments[0] if arguments else None
        if receiver is not None and not _is_module_like(receiver):
            first = receiver  # err.mean(), x.log10()
        if first is None:
            return UNKNOWN, False
        if name in _MAGNITUDES or name in ("pow", "power"):
            if name in ("pow", "power"):
                exponent = _literal(arguments[1]) if len(arguments) >= 2 else None
                if exponent is None or exponent <= 0:
                    return UNKNOWN, False
            if _is_error_node(first, self):
                return UP, False
            return self.direction(first, depth + 1)
        if name in _KEEPS:
            return self.direction(first, depth + 1)
        if name in _LOGS:
            sign, through = self.direction(first, depth + 1)
            return sign, through or sign != UNKNOWN
        lowered = name.lower()
        if any(part in lowered for part in _ERROR_NAMES) and self.sources(node) == self.pair:
            return UP, False  # mse_loss(pred, true): an error measure of the pair
        return UNKNOWN, False


    def _branch(self, node, depth: int) -> tuple[int, bool]:
        """The direction of a nested function's every return (``UNKNOWN`` when they differ)."""
        function = self.nested.get(node.value) if isinstance(node, cst.Name) else None
        if function is None or function.params.params:
            return UNKNOWN, False
        returned = [n.value for n in own_nodes(function) if isinstance(n, cst.Return)]
        directions = {self.direction(value, depth + 1) if value is not None else (UNKNOWN, False) for value in returned}
        return directions.pop() if len(directions) == 1 else (UNKNOWN, False)


def _is_error_node(node, reader: _DirectionReader) -> bool:
    """``a - b`` of the pair (followed through names assigned once)."""
    depth = 0
    while isinstance(node, cst.Name) and depth < 20:
        values = reader.assigned.get(node.value)
        if not values or len(values) != 1 or values[0] is None:
            return False
        node, depth = values[0], depth + 1
    return isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Subtract) \
        and _is_error(node.left, node.right, reader)


def _is_error(left, right, reader: _DirectionReader) -> bool:
    left_sources, right_sources = reader.sources(left), reader.sources(right)
    return len(left_sources) == 1 and len(right_sources) == 1 and left_sources != right_sources


def _is_module_like(node) -> bool:
    """``tf.math``, ``jnp``, ``torch``, ``K``: a namespace (lowercase dotted names of modules), not a tensor."""
    while isinstance(node, cst.Attribute):
        node = node.value
    return isinstance(node, cst.Name) and node.value in (
        "tf", "jnp", "np", "torch", "K", "keras", "ops", "F", "math", "jax", "backend", "numpy")


def _literal(node) -> float | None:
    if isinstance(node, (cst.Integer, cst.Float)):
        return float(node.evaluated_value)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = _literal(node.expression)
        return None if inner is None else -inner
    return None


def _negative_literal(node) -> bool:
    value = _literal(node)
    return value is not None and value < 0

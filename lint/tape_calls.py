"""Which function's value a TensorFlow ``GradientTape`` differentiates (syntax only, no facts).

``loss = self._loss(data)`` inside ``with tf.GradientTape() as tape:`` and then
``tape.gradient(loss, weights)`` makes ``_loss`` the training loss, whatever its name; the rule
side (``rules/_tape.py``) asks whether its value still holds one value per sample there.

    >>> import libcst as cst
    >>> step = cst.parse_statement(
    ...     "def train_step(self, data):\\n"
    ...     "    with tf.GradientTape() as tape:\\n"
    ...     "        loss = self._loss(data)\\n"
    ...     "    grads = tape.gradient(loss, self.trainable_weights)\\n")
    >>> differentiated_by_a_tape(step, "_loss", method=True) is not None
    True
"""

from __future__ import annotations

import re

import libcst as cst

from .facts import _text
from .lazy_re import compile_lazily
from .tree import children, own_nodes_in_order


def differentiated_by_a_tape(function: cst.FunctionDef, name: str, method: bool) -> cst.Call | None:
    """The ``tape.gradient(loss, ...)`` call in ``function`` whose target is a name bound to a call
    of ``name`` (``self.name(...)`` for a method) and not since rebound to one number, ``tape`` a
    ``GradientTape`` and the sources not inputs it watches (an input gradient: FGSM, saliency)."""
    return _tape_gradients(function).get((name, method))


def tape_gradient_in(index, info) -> cst.Call | None:
    """``differentiated_by_a_tape`` over the file's functions (a method: its own class's), each
    function read once per file (the answers are kept on the index)."""
    cached = index.__dict__.setdefault("_tape_gradients", {})
    method = info.class_info is not None
    for caller in index.functions:
        if caller is info or (method and caller.class_info is not info.class_info):
            continue
        found = cached.get(id(caller.node))
        if found is None:
            found = cached[id(caller.node)] = _tape_gradients(caller.node)
        if (info.name, method) in found:
            return found[(info.name, method)]
    return None


def _tape_gradients(function: cst.FunctionDef) -> dict[tuple[str, bool], cst.Call]:
    """Each ``(callee, is_method)`` whose value the function's tapes differentiate, with the call."""
    bound: dict[str, tuple[str, bool]] = {}
    tapes, watched, found, entries = set(), set(), {}, set()
    for node in own_nodes_in_order(function):
        if isinstance(node, cst.WithItem) and _makes_a_tape(node.item) and isinstance(node.asname, cst.AsName) \
                and isinstance(node.asname.name, cst.Name):
            tapes.add(node.asname.name.value)  # with tf.GradientTape() as tape:
        elif isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
            target = node.targets[0].target.value
            callee = _callee(node.value)
            entry = _entry_of(node.value, bound)
            if callee is not None:
                bound[target] = callee  # loss = self._compute_loss(data)
                entries.discard(target)
            elif entry is not None:
                bound[target] = entry  # total = losses["total_loss"], get_losses(...)["total_loss"]
                entries.add(target)
            elif not (target in bound and _still_per_sample(node.value, target)):
                bound.pop(target, None)  # loss = tf.reduce_mean(loss): rebound to one number
                if _makes_a_tape(node.value):
                    tapes.add(target)
        elif isinstance(node, cst.AugAssign) and isinstance(node.target, cst.Name) \
                and isinstance(node.operator, (cst.DivideAssign, cst.FloorDivideAssign)):
            bound.pop(node.target.value, None)  # loss /= batch_size: a mean, summed
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
                and isinstance(node.func.value, cst.Name) and node.func.value.value in tapes:
            if node.func.attr.value == "watch":  # tape.watch(images): a gradient for the inputs
                watched.update(a.value.value for a in node.args if isinstance(a.value, cst.Name))
            elif node.func.attr.value == "gradient":
                target = _argument(node, 0, "target")
                sources = _argument(node, 1, "sources")
                entry = _entry_of(target, bound)
                if entry is not None and _trains_weights(sources):
                    found.setdefault(entry, node)  # tape.gradient(losses["total"], model.trainable_variables)
                    continue
                if isinstance(target, cst.Name) and target.value in entries and not _trains_weights(sources):
                    continue  # an entry of a dict differentiated for inputs: a saliency map, an attack
                if isinstance(target, cst.Name) and target.value in bound \
                        and not (isinstance(sources, cst.Name) and sources.value in watched):
                    found.setdefault(bound[target.value], node)
    return found


def differentiates_weights(call: cst.Call) -> bool:
    """``tape.gradient(loss, model.trainable_variables)``: the sources are a model's weights (by
    their name: ``trainable_*``, ``variables``, ``weights``, ``params``), so what it differentiates
    is a training loss; not a gradient for inputs (``[images]``, ``feats["conv"]``, an attack's
    ``tf.Variable``), a saliency map or an attribution."""
    return _trains_weights(_argument(call, 1, "sources"))


def _trains_weights(sources) -> bool:
    return sources is not None and bool(_WEIGHT_SOURCES.search(_text(sources)))


# the words that name what an optimizer updates, as sources of a tape's gradient
_WEIGHT_SOURCES = compile_lazily(r"trainable|(?<![A-Za-z])(variables|weights|params|parameters|vars|theta)(?![A-Za-z])",
                                 re.IGNORECASE)


def _entry_of(node, bound: dict) -> tuple[str, bool] | None:
    """The function whose returned dict ``node`` reads one entry of, by a string key:
    ``losses["total_loss"]`` or ``losses.get("total_loss")`` of ``losses = get_losses(...)``, or
    ``get_losses(...)["total_loss"]``; else None."""
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "get" \
            and node.args and isinstance(node.args[0].value, cst.SimpleString):
        holder = node.func.value
    elif isinstance(node, cst.Subscript) and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index) \
            and isinstance(node.slice[0].slice.value, cst.SimpleString):
        holder = node.value
    else:
        return None
    if isinstance(holder, cst.Name):
        return bound.get(holder.value)
    return _callee(holder)


def _callee(node) -> tuple[str, bool] | None:
    """``name(...)`` (a function) or ``self.name(...)``/``cls.name(...)`` (a method)."""
    if not isinstance(node, cst.Call):
        return None
    func = node.func
    if isinstance(func, cst.Name):
        return func.value, False
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value in ("self", "cls"):
        return func.attr.value, True
    return None


def _argument(call: cst.Call, position: int, keyword: str):
    for argument in call.args:
        if argument.keyword is not None and argument.keyword.value == keyword:
            return argument.value
    positional = [a.value for a in call.args if a.keyword is None]
    return positional[position] if position < len(positional) else None


def _still_per_sample(value, name: str) -> bool:
    """``loss = loss + tf.add_n(model.losses)``, ``loss = loss * w``: the name read outside any call
    (a reduction such as ``reduce_mean(loss)`` or ``compute_average_loss(loss)`` makes one number)."""
    def free(node, inside_call: bool) -> bool:
        if isinstance(node, cst.Name):
            return node.value == name and not inside_call
        return any(free(child, inside_call or isinstance(node, cst.Call)) for child in children(node))
    return free(value, False)


def _makes_a_tape(node) -> bool:
    """``tf.GradientTape()``, ``GradientTape(persistent=True)``."""
    if not isinstance(node, cst.Call):
        return False
    func = node.func
    name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""
    return name == "GradientTape"

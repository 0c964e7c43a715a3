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

import libcst as cst

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
    tapes, watched, found = set(), set(), {}
    for node in own_nodes_in_order(function):
        if isinstance(node, cst.WithItem) and _makes_a_tape(node.item) and isinstance(node.asname, cst.AsName) \
                and isinstance(node.asname.name, cst.Name):
            tapes.add(node.asname.name.value)  # with tf.GradientTape() as tape:
        elif isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
            target = node.targets[0].target.value
            callee = _callee(node.value)
            if callee is not None:
                bound[target] = callee  # loss = self._compute_loss(data)
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
                target = _named_entry(target)  # losses["total"] of losses = get_losses(...): its entry
                if isinstance(target, cst.Name) and target.value in bound \
                        and not (isinstance(sources, cst.Name) and sources.value in watched):
                    found.setdefault(bound[target.value], node)
    return found


def _named_entry(node):
    """``losses["total_loss"]``: the dict ``losses`` a function returned, read by a string key (the
    entry the tape differentiates is the training loss that function computes); else ``node``."""
    if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Name) and len(node.slice) == 1 \
            and isinstance(node.slice[0].slice, cst.Index) and isinstance(node.slice[0].slice.value, cst.SimpleString):
        return node.value
    return node


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

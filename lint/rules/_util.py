"""Small helpers shared by rules."""

from __future__ import annotations

import libcst as cst


_EMPTY_MODULE = cst.Module([])


def code_of(node: cst.CSTNode, limit: int = 60) -> str:
    """Source text of a node, shortened for messages."""
    text = " ".join(_EMPTY_MODULE.code_for_node(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def callee(node: cst.Call) -> str:
    """How the called function is written: ``tf.math.exp``."""
    return code_of(node.func, 40)


def loss_calls_any(ctx, key: str, predicate) -> bool:
    """Whether the loss body calls an op for which ``predicate(op)`` holds (cached per loss)."""
    cache = ctx.__dict__.setdefault("_calls_any", {})
    if key not in cache:
        found = False
        stack = [ctx.loss.node.body]
        while stack and not found:
            node = stack.pop()
            if isinstance(node, cst.Call):
                op = ctx.op(node)
                found = op is not None and predicate(op)
            stack.extend(node.children)
        cache[key] = found
    return cache[key]


def literal_int(ctx, node) -> int | None:
    if node is None:
        return None
    value = ctx.facts(node).literal
    if value is None or not float(value).is_integer():
        return None
    return int(value)


def is_true(node) -> bool:
    return isinstance(node, cst.Name) and node.value == "True"


# Keras calls that build a whole network (and load its weights) when they run.
KERAS_NETWORK_CONSTRUCTORS = frozenset({"keras.Model", "keras.models.Model", "keras.Sequential",
                                        "keras.models.Sequential", "keras.models.load_model"})


def builds_a_keras_network(op) -> bool:
    """``keras.applications.VGG19(...)``, ``keras.Model(...)``, ``Sequential(...)``, ``load_model(...)``."""
    return op.namespace.startswith("keras.applications") or op.qualified in KERAS_NETWORK_CONSTRUCTORS


def torch_only(ctx) -> bool:
    """The file imports torch and neither TensorFlow, JAX nor Keras: eager PyTorch semantics apply
    (nothing is traced once; a norm's gradient at 0 is 0, not NaN)."""
    heads = {qualified.split(".")[0] for qualified in ctx.index.imports.aliases.values()}
    return "torch" in heads and not heads & {"tensorflow", "jax", "keras"}

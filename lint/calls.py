"""A uniform view of a call: which tensor op it is, with its arguments by position and keyword.

``tf.reduce_sum(x, axis=0)``, ``keras.ops.sum(x, 0)``, ``torch.sum(x, dim=0)`` and ``x.sum(0)``
all read as the op ``sum`` with the tensor at position 0 and the axis at position 1, so a rule
asks one question instead of four:

    >>> import libcst as cst
    >>> from keras_bsguard.lint.names import ImportTable
    >>> table = ImportTable(); table.add_import("torch", None)
    >>> op = resolve_call(cst.parse_expression("x.sum(dim=0)"), table)
    >>> op.name, op.is_method, op.arg(1, "dim") is not None
    ('sum', True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from .names import BUILTIN_NAMES, TENSOR_NAMESPACES, dotted_parts, split_op

# Methods that, called on a local value, are tensor methods (torch/numpy/TF eager style).
TENSOR_METHODS = frozenset(
    {"sum", "mean", "addmm", "baddbmm", "scatter", "index_fill", "fill_diagonal_", "max", "min", "amax", "amin", "exp", "log", "log1p", "sqrt", "rsqrt", "abs",
     "pow", "square", "clamp", "clamp_min", "clamp_max", "clip", "numpy", "item", "tolist", "cpu",
     "argmax", "argmin", "round", "sign", "floor", "ceil", "float", "double", "half", "long",
     "int", "bool", "to", "type", "astype", "reshape", "view", "repeat", "tile", "expand",
     "unsqueeze", "squeeze", "transpose", "t", "permute", "matmul", "mm", "bmm", "dot", "norm",
     "std", "var", "prod", "cumsum", "sigmoid", "softmax", "log_softmax", "tanh", "relu",
     "detach", "mul", "div", "add", "sub", "neg", "reciprocal", "exp_", "log_", "gt", "lt", "ge",
     "le", "eq", "ne", "nansum", "nanmean", "logsumexp", "masked_fill", "gather", "cosh", "sinh",
     "expm1", "block_until_ready", "flatten", "contiguous", "clone", "any", "all",
     "broadcast_to", "expand_as", "size", "numel", "assign", "assign_add", "assign_sub",
     "masked_select", "index_select", "diag", "diagonal", "narrow", "triu", "tril", "type_as", "new_tensor",
     "masked_fill_", "clamp_", "clamp_min_", "exp_", "sqrt_", "norm", "cumprod", "flip", "roll", "gather",
     "log1p", "log2", "log10", "square", "softplus", "nan_to_num", "where", "repeat_interleave", "cuda",
     "squeeze_", "unsqueeze_", "chunk", "split", "unbind", "sort", "topk", "get_shape", "acos", "arccos", "det",
     "isnan", "isinf", "isfinite", "logical_not"}
)


@dataclass
class Op:
    """A resolved call: ``namespace.name`` (or a method ``name`` on ``args[0]``)."""

    node: cst.Call
    name: str
    namespace: str  # "keras.ops", "tensorflow", ... ; "<method>" for tensor methods
    args: list[cst.BaseExpression]  # positional; a method's receiver first
    kwargs: dict[str, cst.BaseExpression]
    is_method: bool = False

    @property
    def qualified(self) -> str:
        return f"{self.namespace}.{self.name}"

    def arg(self, position: int, *keywords: str) -> cst.BaseExpression | None:
        for keyword in keywords:
            if keyword in self.kwargs:
                return self.kwargs[keyword]
        if position < len(self.args):
            return self.args[position]
        return None


_OPERAND_KEYWORDS = ("input_tensor", "input", "x", "tensor")


def resolve_call(node: cst.Call, imports) -> Op | None:
    """The op a call performs, or None when it is not a recognisable tensor/builtin op."""
    positional = [a.value for a in node.args if a.keyword is None and not a.star]
    kwargs = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
    if not positional:  # tf.reduce_max(input_tensor=x, axis=1): the operand passed by keyword
        operand = next((kwargs[k] for k in _OPERAND_KEYWORDS if k in kwargs), None)
        if operand is not None:
            positional = [operand]
    parts = dotted_parts(node.func)
    if parts is not None:
        qualified = imports.qualify(parts)
        if qualified is not None:
            namespace, name = split_op(qualified)
            return Op(node, name, namespace, positional, kwargs)
        if len(parts) == 1 and parts[0] in BUILTIN_NAMES:
            return Op(node, parts[0], "builtins", positional, kwargs)
    if isinstance(node.func, cst.Attribute):
        method = node.func.attr.value
        receiver = node.func.value
        if method.endswith("_") and not method.startswith("_") and method[:-1] in TENSOR_METHODS:
            method = method[:-1]  # torch's in-place variants (``c.pow_(2)``) compute the same values
        if method in TENSOR_METHODS and not _is_module_or_self(receiver, imports):
            return Op(node, method, "<method>", [receiver, *positional], kwargs, is_method=True)
    return None


def _is_module_or_self(receiver: cst.BaseExpression, imports) -> bool:
    parts = dotted_parts(receiver)
    if parts is None:
        return False
    if parts[0] == "self" and len(parts) == 1:
        return True
    qualified = imports.qualify(parts)
    return qualified is not None and len(parts) <= 3 and qualified.split(".")[0] in _TOP_MODULES


_TOP_MODULES = frozenset({"tensorflow", "keras", "jax", "numpy", "torch", "math", "random", "scipy"})


def in_tensor_namespace(op: Op) -> bool:
    return op.is_method or op.namespace in TENSOR_NAMESPACES

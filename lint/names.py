"""Resolve names in a module to fully qualified names, from the file's own imports.

A small import table built once per file replaces libcst's ``QualifiedNameProvider`` (measured
at about 7x the cost of a bare parse).  It knows ``import tensorflow as tf``,
``import keras.backend as K``, ``from tensorflow.math import exp as e`` and friends, and folds the
many spellings of one tensor library into a canonical prefix so that rules match one name:

    >>> table = ImportTable()
    >>> table.add_import("tensorflow", "tf")
    >>> table.add_from("keras", "backend", "K")
    >>> table.qualify(["tf", "math", "exp"]), table.qualify(["K", "exp"])
    ('tensorflow.exp', 'keras.backend.exp')
"""

from __future__ import annotations

import libcst as cst

# Spellings of one namespace folded to a canonical prefix (longest first wins).
_CANONICAL_PREFIXES: tuple[tuple[str, str], ...] = (
    ("tensorflow.compat.v1.keras.", "keras."),
    ("tensorflow.compat.v2.", "tensorflow."),
    ("tensorflow.compat.v1.", "tensorflow."),
    ("tensorflow.python.keras.", "keras."),
    ("tensorflow.keras.", "keras."),
    ("tf_keras.", "keras."),
    ("keras.src.ops.numpy.", "keras.ops."),
    ("keras.src.ops.nn.", "keras.ops."),
    ("keras.src.ops.math.", "keras.ops."),
    ("keras.src.ops.core.", "keras.ops."),
    ("keras.src.ops.linalg.", "keras.ops."),
    ("keras.src.ops.image.", "keras.ops.image."),
    ("keras.src.ops.", "keras.ops."),
    ("keras.ops.numpy.", "keras.ops."),
    ("keras.ops.nn.", "keras.ops."),
    ("keras.ops.math.", "keras.ops."),
    ("keras.ops.core.", "keras.ops."),
    ("keras.ops.linalg.", "keras.ops."),
    ("keras.src.backend.", "keras.backend."),
    ("keras.src.random.", "keras.random."),
    ("keras.src.activations.", "keras.activations."),
    ("keras.src.layers.", "keras.layers."),
    ("keras.src.losses.", "keras.losses."),
    ("keras.src.", "keras."),
    ("tensorflow.math.", "tensorflow."),
    # TensorFlow's internal op modules (TF's and tf-keras's own sources, tensorflow-addons)
    ("tensorflow.python.ops.math_ops.", "tensorflow."),
    ("tensorflow.python.ops.gen_math_ops.", "tensorflow."),
    ("tensorflow.python.ops.array_ops.", "tensorflow."),
    ("tensorflow.python.ops.gen_array_ops.", "tensorflow."),
    ("tensorflow.python.ops.clip_ops.", "tensorflow."),
    ("tensorflow.python.ops.special_math_ops.", "tensorflow."),
    ("tensorflow.python.ops.nn_ops.", "tensorflow.nn."),
    ("tensorflow.python.ops.nn_impl.", "tensorflow.nn."),
    ("tensorflow.python.ops.nn.", "tensorflow.nn."),
    ("tensorflow.python.ops.linalg_ops.", "tensorflow.linalg."),
    ("tensorflow.python.ops.random_ops.", "tensorflow.random."),
    ("tensorflow.python.framework.ops.convert_to_tensor", "tensorflow.convert_to_tensor"),
    ("tensorflow.experimental.numpy.", "tensorflow."),
    ("jax.numpy.linalg.", "jax.numpy."),
    ("torch.nn.functional.", "torch.nn.functional."),
)

# Namespaces whose members are tensor operations; the short name after them is the op name.
TENSOR_NAMESPACES: frozenset[str] = frozenset(
    {
        "tensorflow",
        "tensorflow.nn",
        "tensorflow.linalg",
        "tensorflow.signal",
        "tensorflow.image",
        "tensorflow.random",
        "keras.ops",
        "keras.backend",
        "keras.activations",
        "keras.random",
        "keras.ops.image",
        "jax.numpy",
        "jax.nn",
        "jax.lax",
        "jax.random",
        "jax.scipy.special",
        "jax.numpy.fft",
        "jax",
        "numpy",
        "numpy.random",
        "numpy.linalg",
        "numpy.fft",
        "torch",
        "torch.nn.functional",
        "torch.special",
        "torch.linalg",
        "torch.fft",
        "math",
        "random",
        "builtins",
    }
)

BUILTIN_NAMES: frozenset[str] = frozenset(
    {"abs", "max", "min", "round", "float", "int", "bool", "print", "range", "len", "sum",
     "zip", "enumerate", "pow", "list", "tuple", "isinstance", "hasattr", "getattr", "map",
     "reversed", "sorted", "any", "all", "divmod", "complex", "callable", "type", "iter", "next"}
)


def canonical(qualified: str) -> str:
    """Fold the spellings of a namespace: ``tensorflow.math.exp`` -> ``tensorflow.exp``."""
    for prefix, replacement in _CANONICAL_PREFIXES:
        if qualified.startswith(prefix):
            return replacement + qualified[len(prefix):]
    if qualified.startswith("flax.linen.") and qualified.count(".") == 2 and qualified[len("flax.linen."):][:1].islower():
        return "jax.nn." + qualified[len("flax.linen."):]  # nn.sigmoid is jax.nn.sigmoid (nn.Dense stays a layer)
    return qualified


def split_op(qualified: str) -> tuple[str, str]:
    """``keras.ops.exp`` -> (``keras.ops``, ``exp``)."""
    namespace, _, short = qualified.rpartition(".")
    return namespace, short


def dotted_parts(node: cst.BaseExpression) -> list[str] | None:
    """``tf.math.exp`` -> ``['tf', 'math', 'exp']``; None for anything that is not a dotted name."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
        parts.reverse()
        return parts
    return None


def terminal_name(node: cst.BaseExpression) -> str:
    """The last name of a name or attribute: ``eps`` of ``eps``, ``_avg_factor`` of
    ``self._avg_factor``; ``""`` for anything else.

        >>> terminal_name(cst.parse_expression("self.cfg")), terminal_name(cst.parse_expression("f(x)"))
        ('cfg', '')
    """
    if isinstance(node, cst.Attribute):
        return node.attr.value
    return node.value if isinstance(node, cst.Name) else ""


def called_name(call: cst.Call) -> str | None:
    """The last name of what a call calls: ``f`` of ``f(x)``, ``distance`` of ``self.distance(x)``.

        >>> called_name(cst.parse_expression("self.distance(a, b)"))
        'distance'
    """
    if isinstance(call.func, cst.Name):
        return call.func.value
    if isinstance(call.func, cst.Attribute):
        return call.func.attr.value
    return None


def dotted_text(node: cst.BaseExpression | cst.ImportAlias) -> str:
    """Text of a ``Name``/``Attribute`` chain as written (``keras.backend``)."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{dotted_text(node.value)}.{node.attr.value}"
    return ""


# Names that mean one library by convention: a snippet or a notebook cell that uses ``torch.exp``
# without importing it (the import is in another cell) still means torch.
_CONVENTIONAL_ALIASES = {"torch": "torch", "tf": "tensorflow", "K": "keras.backend", "np": "numpy",
                         "jnp": "jax.numpy", "jax": "jax", "F": "torch.nn.functional", "nn": "torch.nn",
                         "keras": "keras", "ops": "keras.ops"}


# A project's own backend module that re-exports Keras (``from keras_cv.src.backend import ops``,
# ``from .backend import keras``): the names mean Keras's, as the module exists to forward them.
_REEXPORTED = {"ops": "keras.ops", "keras": "keras", "K": "keras.backend", "backend": "keras.backend"}
_LIBRARY_ROOTS = frozenset({"tensorflow", "keras", "tf_keras", "torch", "jax", "numpy", "flax", "optax"})


def _backend_reexport(module: str, name: str) -> str | None:
    """What ``from MODULE import NAME`` means when MODULE is a project's backend shim, or None.

        >>> _backend_reexport("keras_cv.src.backend", "ops"), _backend_reexport("torch", "ops")
        ('keras.ops', None)
    """
    parts = module.split(".") if module else []
    if parts and parts[0] in _LIBRARY_ROOTS:
        return None
    if name not in _REEXPORTED or "backend" not in parts:
        return None
    if name == "backend" and parts[-1] == "backend":
        return None  # from pkg.backend import backend: a module of the shim, not keras.backend
    return _REEXPORTED[name]


class ImportTable:
    """Local name -> fully qualified name, from every import statement in one file."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        # conventional names (``torch``, ``tf``, ``K``...) the file uses without importing or binding them
        self.conventional: dict[str, str] = {}

    def assume_conventional_names(self, bound: set[str]) -> None:
        """Read an unimported ``torch.exp`` as torch's (a snippet, or a cell whose imports live elsewhere),
        unless the file binds that name itself."""
        self.conventional = {name: module for name, module in _CONVENTIONAL_ALIASES.items()
                             if name not in bound and name not in self.aliases}

    def add_import(self, module: str, asname: str | None) -> None:
        if asname:
            self.aliases[asname] = module
        else:
            head = module.split(".", 1)[0]
            self.aliases.setdefault(head, head)

    def add_from(self, module: str, name: str, asname: str | None) -> None:
        self.aliases[asname or name] = f"{module}.{name}"

    def add_statement(self, statement: cst.Import | cst.ImportFrom) -> None:
        if isinstance(statement, cst.Import):
            for alias in statement.names:
                asname = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else None
                self.add_import(dotted_text(alias.name), asname)
            return
        if isinstance(statement.names, cst.ImportStar):
            return
        module = dotted_text(statement.module) if statement.module is not None else ""
        for alias in statement.names:
            asname = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else None
            name = dotted_text(alias.name)
            reexported = _backend_reexport(module, name)
            if reexported is not None:
                self.aliases[asname or name] = reexported
            elif not statement.relative and module:
                self.add_from(module, name, asname)

    def qualify(self, parts: list[str]) -> str | None:
        """Fully qualified, canonical name for a dotted name, or None if its head is not imported."""
        head = self.aliases.get(parts[0])
        if head is None and len(parts) > 1:
            head = self.conventional.get(parts[0])
        if head is None:
            return None
        return canonical(".".join([head, *parts[1:]]))


NO_GRAD_NAMES = ("no_grad", "inference_mode")  # torch.no_grad(), torch.inference_mode()


def decorator_names(node):
    """The last name of each decorator (``no_grad`` for ``@torch.no_grad()``), and of the function a
    ``partial`` wraps (``vmap`` for ``@partial(jax.vmap, in_axes=0)``)."""
    for decorator in getattr(node, "decorators", ()):
        expression = decorator.decorator
        if isinstance(expression, cst.Call):
            callee = expression.func
            callee_name = callee.attr.value if isinstance(callee, cst.Attribute) else getattr(callee, "value", "")
            expression = expression.args[0].value if callee_name == "partial" and expression.args else callee
        yield expression.attr.value if isinstance(expression, cst.Attribute) else \
            expression.value if isinstance(expression, cst.Name) else ""


def decorated_no_grad(node) -> bool:
    """``@torch.no_grad()`` on the function: nothing in it is differentiated."""
    return any(name in NO_GRAD_NAMES for name in decorator_names(node))


def calls_named(node, name: str, method) -> bool:
    """``self.name(...)`` or ``cls.name(...)`` (a method), ``name(...)`` (a function); with
    ``method="apply"``, ``name.apply(...)`` (an autograd Function)."""
    if not isinstance(node, cst.Call):
        return False
    func = node.func
    if method == "apply":
        return isinstance(func, cst.Attribute) and func.attr.value == "apply" and isinstance(func.value, cst.Name) \
            and func.value.value == name
    if isinstance(func, cst.Name):
        return not method and func.value == name
    return method and isinstance(func, cst.Attribute) and func.attr.value == name and isinstance(func.value, cst.Name) \
        and func.value.value in ("self", "cls")

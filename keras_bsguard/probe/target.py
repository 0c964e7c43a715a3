"""Find the loss that ``bsguard probe FILE::NAME`` names, and load it (this runs the user's code).

``NAME`` is a function ``my_loss``, a class ``FocalLoss`` (instantiated with no arguments, or
with ``init`` keyword arguments), a method or attribute path ``Losses.dice``, or a factory call
with literal arguments ``focal_loss(gamma=2.0)``.

Example::

    >>> spec = parse_target("losses.py::focal_loss(gamma=2.0)")
    >>> (spec.path.name, spec.name, spec.call_kwargs)
    ('losses.py', 'focal_loss', {'gamma': 2.0})
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path

# First-parameter names that say "the prediction comes first" (torch's ``forward(input, target)``).
_PREDICTION_FIRST = {"input", "inputs", "pred", "preds", "prediction", "predictions", "y_pred", "logits", "output",
                     "outputs", "y_hat", "yhat", "x", "score", "scores", "probs", "y_pr", "pr"}
_TARGET_FIRST = {"y_true", "target", "targets", "labels", "label", "y", "gt", "true", "y_gt", "truth"}


class ProbeInputError(Exception):
    """The target cannot be found, loaded or called: one line for the user, exit code 2."""


@dataclass
class TargetSpec:
    """What ``FILE::NAME`` names: the file, the attribute path, and factory-call arguments."""

    path: Path
    name: str
    call_args: list = field(default_factory=list)
    call_kwargs: dict = field(default_factory=dict)
    is_call: bool = False


@dataclass
class LoadedLoss:
    """The callable to probe, how to call it, and where its source is (for the linter's verdicts)."""

    function: object
    label: str
    prediction_first: bool
    source_file: Path
    first_line: int | None
    last_line: int | None


def parse_target(text: str) -> TargetSpec:
    """Split ``FILE::NAME`` (``NAME`` may be ``a.b`` or a call with literal arguments)."""
    if "::" not in text:
        raise ProbeInputError(f"expected FILE::NAME (e.g. losses.py::focal_loss), got {text!r}")
    file_part, _, name_part = text.partition("::")
    name_part = name_part.strip()
    if not file_part or not name_part:
        raise ProbeInputError(f"expected FILE::NAME (e.g. losses.py::focal_loss), got {text!r}")
    try:
        expression = ast.parse(name_part, mode="eval").body
    except SyntaxError:
        raise ProbeInputError(f"not a name or a call: {name_part!r}") from None
    spec = TargetSpec(path=Path(file_part), name="")
    if isinstance(expression, ast.Call):
        try:
            spec.call_args = [ast.literal_eval(argument) for argument in expression.args]
            spec.call_kwargs = {keyword.arg: ast.literal_eval(keyword.value) for keyword in expression.keywords
                                if keyword.arg is not None}
        except ValueError:
            raise ProbeInputError(f"the arguments of {name_part!r} must be literals (numbers, strings, lists)") from None
        if any(keyword.arg is None for keyword in expression.keywords):
            raise ProbeInputError(f"**kwargs are not supported in {name_part!r}")
        spec.is_call = True
        expression = expression.func
    dotted = _dotted(expression)
    if dotted is None:
        raise ProbeInputError(f"not a name or a call: {name_part!r}")
    spec.name = dotted
    return spec


def _dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def load_loss(spec: TargetSpec, init: dict | None = None, order: str = "auto") -> LoadedLoss:
    """Import the file as a module and return the loss callable it names."""
    path = spec.path
    if not path.is_file():
        raise ProbeInputError(f"no such file: {path}")
    module_name = f"bsguard_probe_target_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise ProbeInputError(f"cannot import {path} (not a Python file?)")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    folder = str(path.resolve().parent)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)  # the file's own imports of its neighbours, as `python FILE` would
    try:
        module_spec.loader.exec_module(module)
    except SystemExit as error:
        raise ProbeInputError(f"importing {path} called sys.exit({error.code})") from None
    except BaseException as error:  # noqa: BLE001 - the user's module failed: say so in one line
        if isinstance(error, KeyboardInterrupt):
            raise
        raise ProbeInputError(f"importing {path} failed: {type(error).__name__}: {_one_line(error)}") from None
    obj = module
    for part in spec.name.split("."):
        if not hasattr(obj, part):
            raise ProbeInputError(f"{path} has no {spec.name!r}")
        obj = getattr(obj, part)
    source_object = obj
    if spec.is_call:
        obj = _call(obj, spec.call_args, spec.call_kwargs, f"{spec.name}(...)")
    elif inspect.isclass(obj):
        obj = _call(obj, [], dict(init or {}), spec.name)
    elif init:
        raise ProbeInputError("--init is for classes; call a factory as FILE::NAME(arg=value)")
    if not callable(obj):
        raise ProbeInputError(f"{spec.name} is not callable (a {type(obj).__name__})")
    first, last = _lines(source_object, path)
    return LoadedLoss(function=obj, label=spec.name, prediction_first=_prediction_first(obj, order),
                      source_file=path, first_line=first, last_line=last)


def _call(factory, args, kwargs, label):
    try:
        return factory(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - the user's constructor failed
        raise ProbeInputError(f"calling {label} failed: {type(error).__name__}: {_one_line(error)}") from None


def _lines(source_object, path: Path) -> tuple[int | None, int | None]:
    """The source lines of the named object (a function, a class, an instance's class, a
    ``functools.partial``'s function) when they are in ``path``; (None, None) otherwise, and then
    no lint finding of the file is judged (it would belong to some other function)."""
    import functools

    while isinstance(source_object, functools.partial):
        source_object = source_object.func
    if not (inspect.isfunction(source_object) or inspect.ismethod(source_object) or inspect.isclass(source_object)):
        source_object = type(source_object)
    try:
        defined_in = inspect.getsourcefile(source_object)
        lines, first = inspect.getsourcelines(source_object)
    except (OSError, TypeError):
        return None, None
    if defined_in is None or Path(defined_in).resolve() != path.resolve():
        return None, None
    return first, first + len(lines) - 1


def _prediction_first(function, order: str) -> bool:
    """Keras's losses take ``(y_true, y_pred)``; torch's modules take ``(input, target)``."""
    if order == "pred,true":
        return True
    if order == "true,pred":
        return False
    target = getattr(function, "forward", None) if not inspect.isfunction(function) else None
    try:
        parameters = list(inspect.signature(target or function).parameters.values())
    except (TypeError, ValueError):
        return False
    names = [p.name.lower() for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if names[:1] == ["self"]:
        names = names[1:]
    if len(names) >= 2 and names[0] in _PREDICTION_FIRST and names[1] in _TARGET_FIRST | {"y_true"}:
        return True
    return False


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:300] + ("..." if len(text) > 300 else "")

"""One statement-level pass over a parsed module: imports, functions, classes, compile calls.

Only statements are walked here (never every expression), which keeps the pass cheap on files
that turn out to contain no loss.

    >>> import libcst as cst
    >>> index = ModuleIndex.build(cst.parse_module(
    ...     "import tensorflow as tf\\n"
    ...     "def loss(y_true, y_pred):\\n    return tf.exp(y_pred)\\n"
    ...     "model.compile(loss=loss)\\n"))
    >>> [f.name for f in index.functions], len(index.compile_calls)
    (['loss'], 1)
"""

from __future__ import annotations

import re

from dataclasses import dataclass, field

import libcst as cst

from .names import ImportTable, dotted_parts, terminal_name
from .tree import children as tree_children
from .tree import own_nodes
from .vocabulary import name_words
from .lazy_re import compile_lazily

# the libraries whose module-level aliases (``K = tf.keras.backend``) name modules, not values
_FRAMEWORK_MODULES = frozenset({"tensorflow", "keras", "torch", "jax", "numpy", "optax", "flax"})


# calls that run a Python function on the host inside a compiled step
_HOST_CALLBACK_RUNNERS = frozenset({"tensorflow.py_function", "tensorflow.numpy_function", "tensorflow.py_func",
                                    "tensorflow.compat.v1.py_func", "jax.pure_callback", "jax.experimental.io_callback",
                                    "jax.debug.callback"})
_CALLBACK_RUNNER_NAMES = frozenset(name.rsplit(".", 1)[-1] for name in _HOST_CALLBACK_RUNNERS)


@dataclass(eq=False)
class FunctionInfo:
    """A ``def`` anywhere in the module, with where it sits."""

    node: cst.FunctionDef
    name: str
    class_info: "ClassInfo | None"  # the class whose body holds it directly
    parent: "FunctionInfo | None"  # the function it is nested in
    nested: list["FunctionInfo"] = field(default_factory=list)

    @property
    def display_name(self) -> str:
        if self.class_info is not None:
            return f"{self.class_info.name}.{self.name}"
        return self.name


# Losses of a distance between prediction and target: 0 where they are equal (torch and Keras names)
DISTANCE_LOSS_CLASSES = frozenset({"MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "MeanSquaredError",
                                   "MeanAbsoluteError", "Huber"})


# Keras's loss classes (``keras.losses.SparseCategoricalCrossentropy(reduction="none")``): criteria
# like torch's ``*Loss`` modules, with a ``reduction`` of their own
KERAS_LOSS_CLASSES = frozenset({"BinaryCrossentropy", "BinaryFocalCrossentropy", "CategoricalCrossentropy",
                                "CategoricalFocalCrossentropy", "SparseCategoricalCrossentropy", "KLDivergence",
                                "Poisson", "LogCosh", "Hinge", "SquaredHinge", "CategoricalHinge",
                                "MeanSquaredLogarithmicError", "MeanAbsolutePercentageError", "Tversky", "Dice",
                                "CTC"})

# Modules whose output is bounded whatever their input: a cosine similarity is in [-1, 1]
BOUNDED_MODULE_CLASSES = frozenset({"CosineSimilarity", "Tanh", "Sigmoid", "Softmax", "Softsign"})
# the activations among them, read as the functional op (so their one construction must be known)
_ACTIVATION_CLASSES = frozenset({"Tanh", "Sigmoid", "Softmax", "Softsign"})


def _reduction(call: cst.Call) -> str:
    """How a loss module built by ``call`` reduces: ``"sum"``, ``"mean"``, ``"none"`` (one value per
    element, ``reduction="none"``, Keras's ``Reduction.NONE`` or ``None``) or ``"other"``."""
    options = {arg.keyword.value: cst.Module([]).code_for_node(arg.value).strip("'\"")
               for arg in call.args if arg.keyword is not None}
    if options.get("batch") == "True":
        return "other"  # MONAI's DiceLoss(batch=True): one score over the whole batch
    reduction = options.get("reduction", "").lower().rsplit(".", 1)[-1]  # losses.Reduction.NONE
    if reduction == "none" or options.get("reduce") == "False":
        # one value per element, whatever the other options: nn.MSELoss(reduction="none"), and
        # torch's old reduce=False, which wins over size_average
        return "none"
    if reduction == "sum" or options.get("size_average") == "False":
        return "sum"  # nn.L1Loss(reduction="sum"), Keras's reduction=losses.Reduction.SUM
    if set(options) - {"reduction", "delta", "beta", "name"} or any(arg.keyword is None for arg in call.args):
        return "other"  # an option we do not model
    if (reduction or "mean") not in ("mean", "sum_over_batch_size", "auto", "batchmean"):
        return "other"  # a reduction we do not model
    return "mean"


def _criteria_among(constructions) -> dict[str, tuple[str, str]]:
    """``(holder, class name, call)`` constructions -> holder -> (class name, reduction) for those
    that build a loss criterion."""
    found: dict[str, tuple[str, str]] = {}
    for holder, name, call in constructions:
        reduction = _reduction(call)
        # Keras's loss classes only unreduced or summed: their default mean clips probabilities
        # (no log(0))
        if name.endswith("Loss") or name in DISTANCE_LOSS_CLASSES or (name in KERAS_LOSS_CLASSES
                                                                      and reduction in ("none", "sum")):
            found[holder] = (name, reduction)
    return found


def local_layers(function: cst.FunctionDef, imports: ImportTable) -> frozenset[str]:
    """Names a function binds once to a torch.nn or Keras layer it builds (``pool =
    nn.MaxPool3d(3)``): called on a tensor they return a tensor, as ``self.<attr>`` layers do.

        >>> import libcst as cst
        >>> f = cst.parse_module("def loss(p, t):\\n    pool = nn.MaxPool2d(3)\\n    return pool(p)\\n").body[0]
        >>> table = ImportTable(); table.add_import("torch.nn", "nn")
        >>> sorted(local_layers(f, table))
        ['pool']
    """
    return frozenset(holder for holder, values in local_bindings(function).items()
                     if len(values) == 1 and builds_a_layer(_construction(values[0]), imports))


def builds_a_layer(call: cst.Call | None, imports: ImportTable) -> bool:
    """``nn.Conv2d(1, 1, 3)``, ``layers.AveragePooling2D()``: a torch.nn or Keras layer built (not a
    ``*Loss`` criterion)."""
    parts = dotted_parts(call.func) if call is not None else None
    qualified = imports.qualify(parts) if parts else None
    return bool(qualified) and parts[-1][:1].isupper() and not parts[-1].endswith("Loss") \
        and qualified.startswith(("torch.nn.", "keras.layers.", "tensorflow.keras.layers."))


def inline_criterion(func) -> tuple[str, str] | None:
    """(class name, reduction) of a criterion built where it is called: ``func`` is the callee of
    ``nn.L1Loss(reduction="sum")(pred, target)`` (also moved, ``nn.MSELoss(...).cuda()(p, t)``).

        >>> import libcst as cst
        >>> inline_criterion(cst.parse_expression("L1Loss(reduction='sum')(a, b)").func)
        ('L1Loss', 'sum')
        >>> inline_criterion(cst.parse_expression("model(a)(b)").func) is None
        True
    """
    call = _construction(func)
    if call is None:
        return None
    name = call.func.attr.value if isinstance(call.func, cst.Attribute) else getattr(call.func, "value", "")
    if not isinstance(name, str) or not name[:1].isupper():
        return None
    return _criteria_among([("", name, call)]).get("")


def bound_names(target) -> list[str]:
    """The names a binding target binds (``a``, ``(a, b)``, ``[a, *rest]``)."""
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [name for element in target.elements for name in bound_names(element.value)]
    if isinstance(target, cst.StarredElement):
        return bound_names(target.value)
    return []


def _construction(value) -> cst.Call | None:
    """The constructor call of ``nn.MSELoss(...)``, also moved to a device or cast
    (``nn.MSELoss(reduction="sum").cuda()``, ``.to(device)``)."""
    while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) \
            and value.func.attr.value in _MOVES and isinstance(value.func.value, cst.Call):
        value = value.func.value
    return value if isinstance(value, cst.Call) else None


# methods that move or cast a module and return it
_MOVES = frozenset({"cuda", "cpu", "to", "float", "double", "half", "train", "eval"})


def criteria_by_reduction(criteria: dict[str, tuple[str, str]]):
    """Criteria (holder -> (class name, reduction)) split as the evaluator reads them: those that
    sum, distance losses that average or keep every element (holder -> reduction), those that
    average, those that keep one value per element."""
    summed = frozenset(h for h, (_name, reduction) in criteria.items() if reduction == "sum")
    distance = {h: reduction for h, (name, reduction) in criteria.items()
                if reduction in ("mean", "none") and name in DISTANCE_LOSS_CLASSES}
    mean = frozenset(h for h, (_name, reduction) in criteria.items() if reduction == "mean")
    unreduced = frozenset(h for h, (_name, reduction) in criteria.items() if reduction == "none")
    return summed, distance, mean, unreduced


def local_bindings(function: cst.FunctionDef) -> dict[str, list]:
    """Every name the function binds in its own scope -> the values bound to it, in order (None
    where the value is not the name's own: ``a, b = ...``, a loop, ``with ... as``).

        >>> import libcst as cst
        >>> f = cst.parse_module("def f(x):\\n    a = 1\\n    b, c = x\\n    for a in x:\\n        pass\\n").body[0]
        >>> {name: len(values) for name, values in local_bindings(f).items()}
        {'a': 2, 'b': 1, 'c': 1}
    """
    bindings: dict[str, list] = {}
    for node in own_nodes(function):
        if isinstance(node, cst.Assign):
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    bindings.setdefault(target.target.value, []).append(node.value)
                else:  # a, b = ...: bound, to a value not read here
                    for name in bound_names(target.target):
                        bindings.setdefault(name, []).append(None)
        elif isinstance(node, (cst.AugAssign, cst.AnnAssign)) and isinstance(node.target, cst.Name):
            bindings.setdefault(node.target.value, []).append(node.value)
        else:  # for crit in criteria, with ... as crit, (crit := ...), except ... as crit
            target = {cst.For: "target", cst.WithItem: "asname", cst.NamedExpr: "target",
                      cst.ExceptHandler: "name"}.get(type(node))
            bound = getattr(node, target) if target else None
            if isinstance(bound, cst.AsName):
                bound = bound.name
            for name in bound_names(bound) if bound is not None else ():
                bindings.setdefault(name, []).append(None)
    return bindings


def local_criteria(function: cst.FunctionDef) -> dict[str, tuple[str, str]]:
    """Names a function binds once to a loss criterion it builds itself (``mse =
    nn.MSELoss(size_average=False)``) -> (class name, reduction), as :meth:`ClassInfo.criteria`
    reads ``self.<attr> = ...`` in ``__init__``. A name bound more than once is left out.

        >>> import libcst as cst
        >>> f = cst.parse_module("def loss(p, t):\\n    mse = nn.MSELoss(reduction='sum')\\n"
        ...                      "    return mse(p, t)\\n").body[0]
        >>> local_criteria(f)
        {'mse': ('MSELoss', 'sum')}
    """
    bindings = local_bindings(function)
    constructions = []
    for holder, values in bindings.items():
        call = _construction(values[0]) if len(values) == 1 else None
        if call is not None:
            func = call.func
            name = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", "")
            if isinstance(name, str) and name:
                constructions.append((holder, name, call))
    return _criteria_among(constructions)


# what builds a pretrained network: torchvision's and Keras's application constructors, LPIPS,
# loaders of saved or hub models (``AutoModel.from_pretrained``, ``load_model``)
_PRETRAINED_BUILDER = compile_lazily(
    r"^(VGG1[69]|ResNet\d+\w*|InceptionV3|InceptionResNetV2|Xception|MobileNet(V2|V3\w*)?|DenseNet\d+|"
    r"EfficientNet\w*|NASNet\w*|ConvNeXt\w*|vgg1[169](_bn)?|resnet\d+|efficientnet\w*|mobilenet_v[23]\w*|"
    r"densenet\d+|inception_v3|convnext\w*|regnet_\w+|alexnet|squeezenet\w*|LPIPS|lpips|from_pretrained|load_model)$")


def names_a_pretrained_builder(name: str | None) -> bool:
    """``vgg19``, ``VGG16``, ``efficientnet_b0``, ``from_pretrained``: a call of that name builds a
    pretrained network.

        >>> names_a_pretrained_builder("vgg19"), names_a_pretrained_builder("Conv2d")
        (True, False)
    """
    return bool(name) and _PRETRAINED_BUILDER.match(name) is not None


@dataclass(eq=False)
class ClassInfo:
    node: cst.ClassDef
    name: str
    bases: list[cst.BaseExpression]
    methods: dict[str, FunctionInfo] = field(default_factory=dict)

    def builds_a_pretrained_network(self) -> bool:
        """Its ``__init__`` builds a pretrained network (``models.vgg19(pretrained=True)``,
        ``VGG16(weights="imagenet")``, ``AutoModel.from_pretrained(...)``)."""
        init = self.methods.get("__init__")
        return init is not None and any(isinstance(node, cst.Call) and names_a_pretrained_builder(terminal_name(node.func))
                                        for node in own_nodes(init.node))

    def summed_criteria(self) -> frozenset[str]:
        """Attributes set in ``__init__`` to a loss module that sums over its inputs
        (``self.mse = nn.MSELoss(reduction="sum")``, ``size_average=False``).

            >>> import libcst as cst
            >>> index = ModuleIndex.build(cst.parse_module(
            ...     "class L:\\n    def __init__(self):\\n        self.mse = nn.MSELoss(reduction='sum')\\n"
            ...     "        self.ce = nn.CrossEntropyLoss()\\n"))
            >>> sorted(index.classes["L"].summed_criteria())
            ['mse']
        """
        return criteria_by_reduction(self.criteria())[0]

    def distance_criteria(self) -> dict[str, str]:
        """Attributes set in ``__init__`` to a distance loss that averages (``self.mse =
        nn.MSELoss()``, ``keras.losses.MeanSquaredError()``: ``"mean"``, a non-negative scalar) or
        does not reduce (``nn.MSELoss(reduction="none")``: ``"none"``, one value per element) ->
        that reduction. Either is 0 where the prediction equals the target (``sqrt(self.mse(p, t))``
        without epsilon has an infinite gradient there).

            >>> import libcst as cst
            >>> index = ModuleIndex.build(cst.parse_module(
            ...     "class L:\\n    def __init__(self):\\n        self.mse = nn.MSELoss()\\n"
            ...     "        self.l1 = nn.L1Loss(reduction='none')\\n        self.ce = nn.CrossEntropyLoss()\\n"))
            >>> sorted(index.classes["L"].distance_criteria().items())
            [('l1', 'none'), ('mse', 'mean')]
        """
        return criteria_by_reduction(self.criteria())[1]

    def unreduced_criteria(self) -> frozenset[str]:
        """Attributes set in ``__init__`` to a loss module that does not reduce (``self.ce =
        nn.CrossEntropyLoss(reduction="none")``, ``SparseCategoricalCrossentropy(reduction=
        losses.Reduction.NONE)``): its call keeps the batch axis, one loss per sample or element.

            >>> import libcst as cst
            >>> index = ModuleIndex.build(cst.parse_module(
            ...     "class L:\\n    def __init__(self):\\n"
            ...     "        self.ce = losses.SparseCategoricalCrossentropy(from_logits=True, reduction='none')\\n"))
            >>> sorted(index.classes["L"].unreduced_criteria())
            ['ce']
        """
        return criteria_by_reduction(self.criteria())[3]

    def mean_criteria(self) -> frozenset[str]:
        """Attributes set in ``__init__`` to a loss module that returns the batch mean
        (``self.kl = nn.KLDivLoss(reduction="batchmean")``, ``self.ce = nn.CrossEntropyLoss()``).

            >>> import libcst as cst
            >>> index = ModuleIndex.build(cst.parse_module(
            ...     "class L:\\n    def __init__(self):\\n        self.kl = nn.KLDivLoss(reduction='batchmean')\\n"
            ...     "        self.l1 = nn.L1Loss(reduction='none')\\n"))
            >>> sorted(index.classes["L"].mean_criteria())
            ['kl']
        """
        return criteria_by_reduction(self.criteria())[2]

    def bounded_modules(self) -> dict[str, str]:
        """Attributes set in ``__init__`` to a module whose output is bounded, with the module's
        class (``self.cos = nn.CosineSimilarity(dim=1)``: in [-1, 1]; ``self.sigmoid =
        nn.Sigmoid()``: a probability, as ``torch.sigmoid`` gives).

            >>> import libcst as cst
            >>> index = ModuleIndex.build(cst.parse_module(
            ...     "class L:\\n    def __init__(self):\\n        self.cos = nn.CosineSimilarity(dim=1)\\n"))
            >>> index.classes["L"].bounded_modules()
            {'cos': 'CosineSimilarity'}
        """
        bounded = {}
        for attr, name, call in self._init_constructions():
            if name not in BOUNDED_MODULE_CLASSES:
                continue
            if name in _ACTIVATION_CLASSES:
                name = self._activation_of(attr)
                if name is None:
                    continue  # self.act = nn.ReLU() if ... else nn.Sigmoid(), or replaced later: not known
            bounded[attr] = name
        return bounded

    def _activation_of(self, attr: str) -> str | None:
        """The activation class ``self.<attr>`` holds when every assignment to it in the class is in
        ``__init__`` and builds one: that class, or ``Sigmoid`` when they are all positive ones
        (``nn.Softmax(dim=1)`` under an option, ``nn.Sigmoid()`` otherwise); None when another
        value may be there (``nn.ReLU()``, a default argument, a later reassignment)."""
        names = set()
        for method, node in self_assignments(self.methods, attr):
            call = _construction(node.value)
            func = call.func if call is not None else None
            name = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", None)
            if method.name != "__init__" or name not in _ACTIVATION_CLASSES:
                return None
            names.add(name)
        if len(names) == 1:
            return names.pop()
        return "Sigmoid" if names and names <= {"Sigmoid", "Softmax"} else None

    def criteria(self) -> dict[str, tuple[str, str]]:
        """``self.<attr> = <Name>Loss(...)`` (or a Keras loss class) set in ``__init__``: attr ->
        (class name, reduction), the reduction ``"sum"``, ``"mean"``, ``"none"`` or ``"other"`` (a
        MONAI ``batch=True``, an option we do not model)."""
        return _criteria_among(self._init_constructions())

    def _init_constructions(self) -> list[tuple[str, str, cst.Call]]:
        """``(attr, class name, call)`` for each ``self.<attr> = <Name>(...)`` in ``__init__`` (once per class)."""
        cached = self.__dict__.get("_constructions")
        if cached is not None:
            return cached
        init = self.methods.get("__init__")
        found = []
        # def __init__(self, criterion=nn.KLDivLoss(reduction="batchmean")): self.criterion = criterion
        defaults = {p.name.value: p.default for p in init.node.params.params
                    if isinstance(p.default, cst.Call)} if init is not None else {}
        for node in own_nodes(init.node) if init is not None else ():
            if not (isinstance(node, cst.Assign) and len(node.targets) == 1):
                continue
            target, call = node.targets[0].target, node.value
            if isinstance(call, cst.Name) and call.value in defaults:
                call = defaults[call.value]
            if not isinstance(call, cst.Call):
                continue
            call = _construction(call)  # self.mse = nn.MSELoss().cuda(): the MSELoss
            if not (isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name)
                    and target.value.value == "self"):
                continue
            func = call.func
            name = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", "")
            if isinstance(name, str) and name:
                found.append((target.attr.value, name, call))
        self.__dict__["_constructions"] = found
        return found

    def function_aliases(self) -> dict[str, cst.BaseExpression]:
        """``self.<attr> = <dotted name>`` in ``__init__`` (a function kept to be called later, not
        a call's result, not a parameter of ``__init__``): attr -> the (dotted) name (once per class).

            >>> import libcst as cst
            >>> index = ModuleIndex.build(cst.parse_module(
            ...     "class L:\\n    def __init__(self):\\n        self.loss_fn = keras.backend.ctc_batch_cost\\n"))
            >>> [(a, cst.Module([]).code_for_node(v)) for a, v in index.classes["L"].function_aliases().items()]
            [('loss_fn', 'keras.backend.ctc_batch_cost')]
        """
        cached = self.__dict__.get("_function_aliases")
        if cached is not None:
            return cached
        init = self.methods.get("__init__")
        found = {}
        parameters = {p.name.value for p in init.node.params.params} if init is not None else set()
        for node in own_nodes(init.node) if init is not None else ():
            if not (isinstance(node, cst.Assign) and len(node.targets) == 1):
                continue
            target, value = node.targets[0].target, node.value
            root = value
            while isinstance(root, cst.Attribute):
                root = root.value
            if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) \
                    and target.value.value == "self" and isinstance(value, (cst.Attribute, cst.Name)) \
                    and isinstance(root, cst.Name) and root.value not in ("self", *parameters):
                found[target.attr.value] = value  # K.ctc_batch_cost, an imported ctc_batch_cost
        self.__dict__["_function_aliases"] = found
        return found

    def methods_behind(self, attr: str) -> list[FunctionInfo]:
        """The method ``self.<attr>(...)`` runs: the method of that name, or the methods an attribute
        alias set in the class holds (``self.similarity = self._cosine if cosine else self._dot``,
        ``self.similarity = self._pick(cosine)`` where ``_pick`` returns ``self._cosine`` or
        ``self._dot``, or a function defined in the method that sets it: ``self.f = f``).

            >>> import libcst as cst
            >>> index = ModuleIndex.build(cst.parse_module(
            ...     "class L:\\n    def __init__(self, c):\\n        self.f = self._a if c else self._b\\n"
            ...     "    def _a(self, x):\\n        return x\\n    def _b(self, x):\\n        return x\\n"))
            >>> [m.name for m in index.classes["L"].methods_behind("f")]
            ['_a', '_b']
        """
        if attr in self.methods:
            return [self.methods[attr]]
        cache = self.__dict__.setdefault("_behind", {})
        if attr not in cache:
            cache[attr] = self._aliased_methods(attr)
        return cache[attr]

    def _aliased_methods(self, attr: str) -> list[FunctionInfo]:
        found: list[FunctionInfo] = []
        for method, node in self_assignments(self.methods, attr):
            found.extend(self._methods_named_in(node.value, depth=0))
            if isinstance(node.value, cst.Name):  # def get_map(y): ... ; self.get_map = get_map
                found.extend(f for f in method.nested if f.name == node.value.value)
        unique: list[FunctionInfo] = []
        for info in found:
            if info not in unique:
                unique.append(info)
        return unique

    def _methods_named_in(self, value, depth: int) -> list[FunctionInfo]:
        if isinstance(value, cst.Attribute) and isinstance(value.value, cst.Name) and value.value.value == "self":
            method = self.methods.get(value.attr.value)
            return [method] if method is not None else []
        if isinstance(value, cst.IfExp):
            return self._methods_named_in(value.body, depth) + self._methods_named_in(value.orelse, depth)
        if isinstance(value, cst.Call) and depth == 0:  # self._get_similarity(cosine): what it returns
            picker = self._methods_named_in(value.func, depth + 1)
            returned: list[FunctionInfo] = []
            for info in picker:
                for statement in _returns(info.node):
                    returned.extend(self._methods_named_in(statement.value, depth + 1))
            return returned
        return []


# transforms that differentiate a function by its first argument
_GRADIENT_TRANSFORMS = frozenset({"grad", "value_and_grad", "filter_grad", "filter_value_and_grad"})

# calls that map a function over the batch, one example per call
_PER_EXAMPLE_MAPS = frozenset({"vmap", "map_fn", "vectorized_map"})


# transforms of a function that still run it once per call (``vmap(grad(f))`` maps ``f``)
_WRAPPING_TRANSFORMS = frozenset({"grad", "value_and_grad", "jacrev", "jacfwd", "jit", "checkpoint", "remat"})


def _transform_name(func, imports: ImportTable | None = None) -> str:
    """The transform a call's function names, through an import alias (``from torch.func import
    vmap as _vmap``: ``_vmap`` is ``vmap``)."""
    name = terminal_name(func) or ""
    if imports is not None and isinstance(func, cst.Name) and name in imports.aliases:
        return imports.aliases[name].rsplit(".", 1)[-1]
    return name


def _per_example_function(call: cst.Call, imports: ImportTable | None = None) -> str | None:
    """The function ``jax.vmap(f)``, ``tf.map_fn(f, (y_true, y_pred))`` or ``tf.map_fn(lambda x:
    f(x[0], x[1]), elems)`` runs once per element of its tensors: by a lambda, only when what it
    passes comes from the lambda's own parameter (not the batch through a closure), and with
    ``map_fn``, only over named tensors (not ``tf.range(10)``: a loop over class ids).

        >>> import libcst as cst
        >>> _per_example_function(cst.parse_expression("tf.map_fn(lambda x: f(x[0], x[1]), (a, b))"))
        'f'
        >>> _per_example_function(cst.parse_expression("tf.map_fn(lambda c: f(emb, c), tf.range(10))")) is None
        True
        >>> _per_example_function(cst.parse_expression("torch.func.vmap(torch.func.grad(f), in_dims=(None, 0))"))
        'f'
    """
    mapped = call.args[0].value
    if not _maps_the_data(call):
        return None  # vmap(f, in_axes=(0, None, None)): an ensemble of parameters, each seeing the whole batch
    while isinstance(mapped, cst.Call) and mapped.args and _transform_name(mapped.func, imports) in _WRAPPING_TRANSFORMS:
        mapped = mapped.args[0].value  # vmap(grad(loss_of_one)): the gradient of one example's loss
    if _transform_name(call.func, imports) != "vmap":
        elements = call.args[1].value if len(call.args) >= 2 else None
        names = elements.elements if isinstance(elements, (cst.Tuple, cst.List)) else [elements]
        if elements is None or not all(isinstance(getattr(e, "value", e), (cst.Name, cst.Attribute)) for e in names):
            return None
    if isinstance(mapped, cst.Lambda) and isinstance(mapped.body, cst.Call):
        params = {p.name.value for p in mapped.params.params}
        arguments = [a.value for a in mapped.body.args]
        if not arguments or not all(_reads_only(argument, params) for argument in arguments):
            return None
        mapped = mapped.body.func
    return mapped.value if isinstance(mapped, cst.Name) else None


# parameters of a mapped function that hold what every example shares: the model, its weights, a key
_SHARED_ARGUMENT = compile_lazily(r"^(params?|weights?|w|ws|theta|variables|model|net|apply_fn|\w+_fn|key|rng|"
                                  r"\w+_key|\w+_params|members?|member_params)$", re.IGNORECASE)
# parameters that hold the batch's data: unmapped, each call sees the whole batch
_DATA_ARGUMENT = compile_lazily(r"^(batch\w*|\w+_batch|data|inputs?|[xy]\d*|xs|ys|targets?|tgts?|labels?|logits|"
                                r"preds?|predictions?|y_true|y_pred|images?|obs|observations|feats?|features)$",
                                re.IGNORECASE)


def maps_per_example(decorator, imports: ImportTable | None = None, params: list[str] | None = None) -> bool:
    """A decorator that maps the function over the batch's examples: ``@jax.vmap``, or
    ``@partial(jax.vmap, in_axes=...)`` whose axes map the data. Given the function's parameter
    names, the data are what the axes map other than shared values (``params``, a key, the model):
    ``(None, 0, 0, 0)`` for ``(params, x0, x1, t)`` and ``(0, 0, None)`` for ``(logits, labels,
    smoothing)`` are per example; ``(None, 0)`` for ``(batch, params)`` maps an ensemble over the
    whole batch. Without names, every argument after the first must be mapped.

        >>> [maps_per_example(cst.parse_expression(t)) for t in ("jax.vmap", "partial(jax.vmap, in_axes=(None, 0))",
        ...                                                       "partial(jax.vmap, in_axes=(0, None))", "jax.jit")]
        [True, True, False, False]
        >>> d = cst.parse_expression("partial(jax.vmap, in_axes=(None, 0))")
        >>> maps_per_example(d, params=["batch", "params"]), maps_per_example(d, params=["params", "x"])
        (False, True)
    """
    if isinstance(decorator, (cst.Name, cst.Attribute)):
        # every argument mapped: over examples unless all are shared (``member_loss(params)``: members)
        return _transform_name(decorator, imports) == "vmap" \
            and (not params or any(not _SHARED_ARGUMENT.match(name) for name in params))
    if isinstance(decorator, cst.Call) and terminal_name(decorator.func) == "partial" and decorator.args \
            and decorator.args[0].keyword is None and isinstance(decorator.args[0].value, (cst.Name, cst.Attribute)) \
            and _transform_name(decorator.args[0].value, imports) == "vmap":
        axes = _axes_of(decorator)
        if params is None or axes is None or len(axes) != len(params):
            return _maps_the_data(decorator)
        mapped = [name for name, axis in zip(params, axes) if not axis]
        unmapped = [name for name, axis in zip(params, axes) if axis]
        return any(not _SHARED_ARGUMENT.match(name) for name in mapped) \
            and not any(_DATA_ARGUMENT.match(name) for name in unmapped)
    return False


def _axes_of(call: cst.Call) -> list[bool] | None:
    """Per argument, whether ``in_axes`` leaves it unmapped (``None``), or None when not a tuple."""
    axes = next((a.value for a in call.args if a.keyword is not None and a.keyword.value in ("in_axes", "in_dims")),
                call.args[1].value if len(call.args) >= 2 and call.args[1].keyword is None else None)
    if not isinstance(axes, (cst.Tuple, cst.List)):
        return None
    return [isinstance(e.value, cst.Name) and e.value.value == "None" for e in axes.elements]


def _maps_the_data(call: cst.Call) -> bool:
    """Whether ``vmap``'s axes map every argument after the first (the parameters): absent, one
    axis for all, or ``(None, 0, 0)``; not ``(0, None)``, which maps the parameters or views and
    hands each call the whole batch.

        >>> [_maps_the_data(cst.parse_expression(t)) for t in ("vmap(f)", "vmap(f, in_axes=(None, 0, 0))",
        ...                                                     "vmap(f, in_axes=(0, None, None))", "vmap(f, (0, None))")]
        [True, True, False, False]
    """
    unmapped = _axes_of(call)
    return unmapped is None or not any(unmapped[1:])


def _reads_only(node, names: set[str]) -> bool:
    """``x[0]``, ``x``: an expression of the given names (and literals) only."""
    if isinstance(node, cst.Name):
        return node.value in names
    if isinstance(node, cst.Subscript):
        return _reads_only(node.value, names)
    return False


@dataclass
class ModuleIndex:
    imports: ImportTable
    functions: list[FunctionInfo]
    classes: dict[str, ClassInfo]
    compile_calls: list[cst.Call]
    fit_calls: list[cst.Call]
    # name -> value of simple ``name = value`` assignments anywhere (the last one wins)
    assignments: dict[str, cst.BaseExpression]
    # module-level ``NAME = <int>`` constants
    int_constants: dict[str, int]
    # names bound at module level (module state a loss must not mutate)
    module_names: set[str]
    # plain functions whose call is stored as a loss (``loss = ssim(image, output)``, ``loss += f(...)``),
    # with the functions that do it (None: module level)
    loss_calls: dict = field(default_factory=dict)
    # functions stored as metrics by hand (``metrics_["logloss"] = self._log_loss``): not losses
    registered_metrics: frozenset = frozenset()
    # the parsed module, for questions asked rarely (``references``)
    module: cst.Module | None = None

    def references(self, name: str) -> int:
        """How often the file names ``name`` anywhere (``name``, ``self.name``, its own ``def``
        included): counted once per file, on first use.

            >>> import libcst as cst
            >>> index = ModuleIndex.build(cst.parse_module("def f(x):\\n    return g(x) + self.g\\n"))
            >>> index.references("g"), index.references("f")
            (2, 1)
        """
        return self._name_counts().get(name, 0)

    def looks_up_names(self) -> bool:
        """The file calls ``getattr`` with a computed name or reads a ``__dict__``: any method may
        run without being named (read in the same walk as :meth:`references`).

            >>> import libcst as cst
            >>> ModuleIndex.build(cst.parse_module("f = getattr(self, '_' + kind)\\n")).looks_up_names()
            True
        """
        self._name_counts()
        return self.__dict__["_looks_up_names"]

    def differentiated(self) -> frozenset[str]:
        """Functions the file hands to a gradient transform by name (``jax.value_and_grad(loss_fn)``,
        ``pax.value_and_grad(loss_fn, has_aux=True)``, ``eqx.filter_grad(loss)``) or decorates with
        one: what such a transform differentiates is the function's first argument, the trained
        model or its weights.

            >>> import libcst as cst
            >>> sorted(ModuleIndex.build(cst.parse_module("vag = jax.value_and_grad(loss_fn, has_aux=True)\\n")).differentiated())
            ['loss_fn']
        """
        found = self.__dict__.get("_differentiated")
        if found is None:
            self._name_counts()
            names = set()
            for (_, callee), calls in self.__dict__["_calls_by_callee"].items():
                if callee in _GRADIENT_TRANSFORMS:
                    # (not with ``argnums``: ``grad(kd_loss, argnums=1)`` differentiates another argument)
                    names.update(call.args[0].value.value for call in calls
                                 if call.args and isinstance(call.args[0].value, cst.Name)
                                 and not any(a.keyword is not None and a.keyword.value == "argnums" for a in call.args))
            for info in self.functions:
                if isinstance(info.node, cst.FunctionDef) and any(
                        terminal_name(d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator)
                        in _GRADIENT_TRANSFORMS for d in info.node.decorators):
                    names.add(info.name.rsplit(".", 1)[-1])
            # a name a nested function also has: which one the transform gets is not read here
            nested = {inner.name.rsplit(".", 1)[-1] for info in self.functions for inner in info.nested}
            found = self.__dict__["_differentiated"] = frozenset(names - nested)
        return found

    def vmapped(self) -> frozenset[str]:
        """Functions the file maps over the batch with ``jax.vmap(name, ...)``, ``tf.map_fn`` or
        ``tf.vectorized_map`` (directly or through a lambda that calls them): they see one example
        per call (read in the same walk as :meth:`references`).

            >>> import libcst as cst
            >>> sorted(ModuleIndex.build(cst.parse_module("batched = jax.vmap(cosine_loss)\\n")).vmapped())
            ['cosine_loss']
            >>> source = "out = tf.map_fn(lambda x: loss(x[0], x[1]), (y_true, y_pred))\\n"
            >>> sorted(ModuleIndex.build(cst.parse_module(source)).vmapped())
            ['loss']
        """
        self._name_counts()
        return frozenset(self.__dict__["_vmapped"])

    def element_maps(self) -> frozenset[str]:
        """Functions the file passes to a ``.map(...)`` method (``dataset.map(pair_distance)``: an
        input pipeline's element function), read in the same walk as :meth:`references`.

            >>> import libcst as cst
            >>> sorted(ModuleIndex.build(cst.parse_module("ds = ds.map(parse)\\n")).element_maps())
            ['parse']
        """
        self._name_counts()
        return frozenset(self.__dict__["_element_maps"])

    def _name_counts(self) -> dict[str, int]:
        counts = self.__dict__.get("_references")
        if counts is None:
            counts = self.__dict__["_references"] = {}
            computed = False
            vmapped = self.__dict__["_vmapped"] = set()
            element_maps = self.__dict__["_element_maps"] = set()
            callbacks = self.__dict__["_callback_uses"] = {}
            calls = self.__dict__["_calls_by_callee"] = {}
            stack = [self.module] if self.module is not None else []
            while stack:
                node = stack.pop()
                if isinstance(node, cst.Name):
                    counts[node.value] = counts.get(node.value, 0) + 1
                elif isinstance(node, cst.Attribute):
                    counts[node.attr.value] = counts.get(node.attr.value, 0) + 1
                    stack.append(node.value)
                    continue
                elif isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "getattr" \
                        and len(node.args) >= 2 and not isinstance(node.args[1].value, cst.SimpleString):
                    computed = True
                if isinstance(node, cst.Call) and isinstance(node.func, (cst.Name, cst.Attribute)):
                    called = (isinstance(node.func, cst.Attribute),
                              node.func.attr.value if isinstance(node.func, cst.Attribute) else node.func.value)
                    calls.setdefault(called, []).append(node)
                if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "map" \
                        and node.args and isinstance(node.args[0].value, cst.Name):
                    element_maps.add(node.args[0].value.value)  # dataset.map(fn)
                if isinstance(node, cst.Call) and terminal_name(node.func) in _CALLBACK_RUNNER_NAMES:
                    for name in self._host_callback_names(node):  # tf.py_function(func=f, ...)
                        callbacks[name] = callbacks.get(name, 0) + 1
                if isinstance(node, cst.Call) and _transform_name(node.func, self.imports) in _PER_EXAMPLE_MAPS \
                        and node.args:
                    mapped = _per_example_function(node, self.imports)
                    if mapped is not None:
                        vmapped.add(mapped)  # jax.vmap(cosine_loss): one example per call
                stack.extend(tree_children(node))
            self.__dict__["_looks_up_names"] = computed or counts.get("__dict__", 0) > 0
        return counts

    def calls_to(self, name: str, method: bool = False) -> list[cst.Call]:
        """The file's calls of ``name(...)``, or with ``method`` of ``obj.name(...)`` (read in the
        same walk as :meth:`references`).

            >>> import libcst as cst
            >>> index = ModuleIndex.build(cst.parse_module("a = f(x)\\nb = self.f(y, z)\\n"))
            >>> len(index.calls_to("f")), len(index.calls_to("f", method=True)[0].args)
            (1, 2)
        """
        self._name_counts()
        return self.__dict__["_calls_by_callee"].get((method, name), [])

    def given_by_default(self, function: cst.CSTNode | None, name: str) -> list[FunctionInfo]:
        """The file's function a parameter's default names (``def mmd(x, y,
        kernel=gaussian_kernel_matrix)``: ``kernel(x, y)`` runs ``gaussian_kernel_matrix``); none for
        a name that is no such parameter."""
        if not isinstance(function, cst.FunctionDef):
            return []
        params = function.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            if param.name.value == name and isinstance(param.default, cst.Name):
                return self.functions_named(param.default.value)
        return []

    def functions_named(self, name: str) -> list[FunctionInfo]:
        """Functions (not methods) of that name, in source order; a dict lookup, built once."""
        by_name = self.__dict__.get("_by_name")
        if by_name is None:
            by_name = {}
            for info in self.functions:
                if info.class_info is None:
                    by_name.setdefault(info.name, []).append(info)
            self.__dict__["_by_name"] = by_name
        return by_name.get(name, [])

    def host_callbacks(self) -> frozenset[str]:
        """Names of the file's functions handed to ``tf.py_function``/``tf.numpy_function``/
        ``jax.pure_callback``/``io_callback`` as the Python function to run: host code, where
        ``.numpy()`` is how the callback reads its input (the host trip is the call that hands it).

            >>> import libcst as cst
            >>> index = ModuleIndex.build(cst.parse_module(
            ...     "import tensorflow as tf\\ndef f(x):\\n    return x.numpy()\\ndef g(x):\\n    return x\\n"
            ...     "y = tf.py_function(func=f, inp=[x], Tout=tf.float32)\\nz = tf.numpy_function(g, [x], tf.float32)\\n"
            ...     "w = g(x)\\n"))
            >>> sorted(index.host_callbacks())  # g is also called directly: graph code there
            ['f']
        """
        counts = self._name_counts()  # (the uses are read in the same walk as :meth:`references`)
        # only a function the file never calls itself (every mention but its def hands it over)
        return frozenset(name for name, uses in self.__dict__["_callback_uses"].items()
                         if counts.get(name, 0) == uses + 1)

    def _host_callback_names(self, call: cst.Call) -> list[str]:
        """The function ``call`` hands to the host, when it is a host-callback runner."""
        parts = dotted_parts(call.func)
        if not parts or self.imports.qualify(parts) not in _HOST_CALLBACK_RUNNERS:
            return []
        keyword = [a.value for a in call.args if a.keyword is not None and a.keyword.value in ("func", "callback")]
        positional = [a.value for a in call.args if a.keyword is None][:1]
        return [value.value for value in keyword or positional if isinstance(value, cst.Name)]

    def runtime_batch_attributes(self) -> frozenset[str]:
        """``self.batch_size`` names that a method sets from a tensor on each call
        (``self.batch_size = item.shape[0]`` in ``forward``): the batch that came, not a setting."""
        found = self.__dict__.get("_runtime_batch")
        if found is None:
            names = set()
            for info in self.functions:
                if info.class_info is None or info.name == "__init__":
                    continue
                for node in _assignments(info.node):
                    for target in node.targets:
                        # self.bs = x.shape[0]; self.bs, self.h, self.w, _ = x.size(); and element by
                        # element, self.bs, self.dim = x.size(0), x.size(-1)
                        for attribute, value in _paired_targets(target.target, node.value):
                            if isinstance(attribute, cst.Attribute) and isinstance(attribute.value, cst.Name) \
                                    and attribute.value.value == "self" and _reads_a_size(value):
                                names.add(attribute.attr.value)
            found = self.__dict__["_runtime_batch"] = frozenset(names)
        return found

    def layer_attributes(self) -> frozenset[str]:
        """``self.conv_x`` names an ``__init__`` sets to a layer of torch.nn or Keras
        (``self.conv_x = nn.Conv2d(1, 1, 3)``, ``self.pool = layers.AveragePooling2D()``): called on
        a tensor, they return a tensor (with its gradient), not an unknown value.

            >>> import libcst as cst
            >>> src = "import torch.nn as nn\\nclass L:\\n    def __init__(self):\\n        self.conv = nn.Conv2d(1, 1, 3)\\n"
            >>> sorted(ModuleIndex.build(cst.parse_module(src)).layer_attributes())
            ['conv']
        """
        found = self.__dict__.get("_layer_attributes")
        if found is None:
            names = set()
            for class_info in self.classes.values():
                for attr, calls in self.init_calls(class_info).items():
                    if any(builds_a_layer(call, self.imports) for call in calls):
                        names.add(attr)
            found = self.__dict__["_layer_attributes"] = frozenset(names)
        return found

    def init_calls(self, class_info) -> dict:
        """The attributes a class's ``__init__`` sets from a call, with those calls (``self.conv =
        nn.Conv2d(...)``; ``self.model, self.preprocess = clip.load(...)`` sets both), read once
        per class.

            >>> import libcst as cst
            >>> index = ModuleIndex.build(cst.parse_module("class L:\\n    def __init__(self):\\n        self.m, _ = clip.load('x')\\n"))
            >>> sorted(index.init_calls(index.classes["L"]))
            ['m']
        """
        cache = self.__dict__.setdefault("_init_calls", {})
        if class_info.name not in cache:
            calls = {}
            init = class_info.methods.get("__init__")
            for node in _assignments(init.node) if init is not None else ():
                if not isinstance(node.value, cst.Call):
                    continue
                for target in node.targets:
                    held = [e.value for e in target.target.elements] \
                        if isinstance(target.target, (cst.Tuple, cst.List)) else [target.target]
                    for attribute in held:
                        if isinstance(attribute, cst.Attribute) and isinstance(attribute.value, cst.Name) \
                                and attribute.value.value == "self":
                            calls.setdefault(attribute.attr.value, []).append(node.value)
            cache[class_info.name] = calls
        return cache[class_info.name]

    def optimises_one_image(self) -> bool:
        """The file's Gram matrix takes one image's features, height x width x channels
        (``tf.transpose(x, (2, 0, 1))``, ``K.permute_dimensions(x, (2, 0, 1))``): the style transfer
        of Keras's example, which optimises a single image. Its losses have no batch to sum over.

            >>> import libcst as cst
            >>> src = "def gram_matrix(x):\\n    x = tf.transpose(x, (2, 0, 1))\\n    return x\\n"
            >>> ModuleIndex.build(cst.parse_module(src)).optimises_one_image()
            True
        """
        found = self.__dict__.get("_one_image")
        if found is None:
            found = self.__dict__["_one_image"] = any(
                "gram" in name_words(info.name) and any(_permutes_three_axes(node) for node in own_nodes(info.node))
                for info in self.functions if isinstance(info.node, cst.FunctionDef))
        return found

    def self_call_targets(self, class_info, name: str, caller: str | None = None) -> list[FunctionInfo]:
        """The methods ``self.<name>(...)`` in ``class_info``'s method ``caller`` may run: the class's
        own (``methods_behind``) and, where ``name`` is a real method of the class, the overrides in
        the file's subclasses that inherit ``caller`` (a template loss whose ``_process_logits``
        each margin variant defines; not a subclass that replaces ``caller`` itself).

            >>> import libcst as cst
            >>> index = ModuleIndex.build(cst.parse_module(
            ...     "class A:\\n    def f(self):\\n        return self.g()\\n    def g(self):\\n        return 1\\n"
            ...     "class B(A):\\n    def g(self):\\n        return 2\\n"
            ...     "class C(B):\\n    def g(self):\\n        return 3\\n"
            ...     "class D(A):\\n    def f(self):\\n        return 0\\n    def g(self, h):\\n        return 4\\n"))
            >>> [m.node.body.body[0].body[0].value.value for m in index.self_call_targets(index.classes["A"], "g", "f")]
            ['1', '2', '3']
        """
        methods = class_info.methods_behind(name)
        if name not in class_info.methods:
            return methods  # an attribute alias (self.dist = self._l2) shadows any subclass method
        found = list(methods)
        for other in self._inheritors(class_info, caller):
            if name in other.methods and other.methods[name] not in found:
                found.append(other.methods[name])
        return found

    def _inheritors(self, class_info, caller: str | None) -> list["ClassInfo"]:
        """The file's subclasses of ``class_info`` (direct or not) that inherit its method ``caller``
        (a subclass that defines ``caller`` replaces it: the base's calls never run on it, nor on
        that subclass's own subclasses); once per class and method."""
        cache = self.__dict__.setdefault("_inheritor_cache", {})
        key = (class_info.name, caller)
        if key not in cache:
            found: list[ClassInfo] = []
            bases = {class_info.name}
            grew = True
            while grew:  # subclasses of subclasses, in the file
                grew = False
                for other in self.classes.values():
                    if other.name in bases or not any(terminal_name(base) in bases for base in other.bases) \
                            or (caller is not None and caller in other.methods):
                        continue
                    bases.add(other.name)
                    grew = True
                    found.append(other)
            cache[key] = found
        return cache[key]

    def held_classes(self, class_info) -> dict[str, "ClassInfo"]:
        """The file's own classes ``class_info``'s ``__init__`` builds and holds, by attribute
        (``self.log_mag = LogMagnitudeLoss()``): calling ``self.log_mag(a, b)`` runs that class.

            >>> import libcst as cst
            >>> index = ModuleIndex.build(cst.parse_module(
            ...     "class A:\\n    pass\\nclass B:\\n    def __init__(self):\\n        self.a = A()\\n"
            ...     "        self.c = nn.Conv2d(1, 1, 3)\\n"))
            >>> {attr: held.name for attr, held in index.held_classes(index.classes["B"]).items()}
            {'a': 'A'}
        """
        cache = self.__dict__.setdefault("_held", {})
        if class_info.name in cache:
            return cache[class_info.name]
        held = cache[class_info.name] = {}
        for attr, calls in self.init_calls(class_info).items():
            built = {c.func.value for c in calls if isinstance(c.func, cst.Name)}
            if len(calls) == 1 and len(built) == 1 and next(iter(built)) in self.classes:
                held[attr] = self.classes[next(iter(built))]
        return held

    def built_only_as_held(self, class_info) -> int:
        """How many holders build ``class_info`` when nothing else in the file names it (a class
        named only by its ``def`` and by ``self.x = Name()`` in other classes' ``__init__``), else 0:
        what those holders pass is then all it is ever given in this file."""
        if class_info.node.decorators or self._exported(class_info.name):
            return 0  # @MODELS.register_module(), __all__ = [...]: built from configs or other modules
        holders = sum(1 for other in self.classes.values() if other is not class_info
                      for held in self.held_classes(other).values() if held is class_info)
        return holders if holders and self.references(class_info.name) == holders + 1 else 0

    def held_uses(self, class_info) -> int:
        """How many times the file names the attributes that hold ``class_info`` (``self.log_mag``)
        other than where ``__init__`` sets them: every call, ``.forward`` call or use as a value."""
        attrs = [attr for other in self.classes.values() if other is not class_info
                 for attr, held in self.held_classes(other).items() if held is class_info]
        return sum(self.references(attr) - attrs.count(attr) for attr in set(attrs))

    def _exported(self, name: str) -> bool:
        exported = self.assignments.get("__all__")
        return isinstance(exported, (cst.List, cst.Tuple)) and any(
            isinstance(e.value, cst.SimpleString) and e.value.evaluated_value == name for e in exported.elements)

    @classmethod
    def build(cls, module: cst.Module) -> "ModuleIndex":
        builder = _IndexBuilder()
        builder.walk_block(module.body, class_info=None, parent=None, module_level=True)
        bound = set(builder.assignments) | {f.name for f in builder.functions} | set(builder.classes) | {
            p.name.value for f in builder.functions for p in (*f.node.params.params, *f.node.params.posonly_params,
                                                              *f.node.params.kwonly_params)}
        builder.imports.assume_conventional_names(bound)
        return cls(
            imports=builder.imports,
            functions=builder.functions,
            classes=builder.classes,
            compile_calls=builder.compile_calls,
            fit_calls=builder.fit_calls,
            assignments=builder.assignments,
            int_constants=builder.int_constants,
            module_names=builder.module_names,
            loss_calls=builder.loss_calls,
            # a name also bound to a value (l2 = float(...); metrics["l2"] = l2) is that value
            registered_metrics=frozenset(builder.registered_metrics - set(builder.assignments) - builder.loss_aliases),
            module=module,
        )


def _permutes_three_axes(node) -> bool:
    """``transpose(x, (2, 0, 1))``, ``permute_dimensions(x, [2, 0, 1])``: a rank-3 permutation."""
    if not isinstance(node, cst.Call) or terminal_name(node.func) not in ("transpose", "permute_dimensions") \
            or len(node.args) < 2:
        return False
    perm = node.args[1].value
    # (2, 0, 1): the channels first, H x W x C read as one image; (0, 2, 1) keeps a batch axis first
    return isinstance(perm, (cst.Tuple, cst.List)) and len(perm.elements) == 3 \
        and all(isinstance(e.value, cst.Integer) for e in perm.elements) and perm.elements[0].value.value != "0"


def _assignments(function: cst.FunctionDef) -> list[cst.Assign]:
    return [node for node in own_nodes(function) if isinstance(node, cst.Assign)]


def self_assignments(methods: dict, attr: str):
    """``(method, assignment)`` for each ``self.<attr> = ...`` in the given methods (an assignment
    with several targets counts once per target naming the attribute)."""
    for method in methods.values():
        for node in _assignments(method.node):
            for target in node.targets:
                t = target.target
                if isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == "self" \
                        and t.attr.value == attr:
                    yield method, node


def _returns(function: cst.FunctionDef) -> list[cst.Return]:
    return [node for node in own_nodes(function) if isinstance(node, cst.Return) and node.value is not None]


def _paired_targets(target, value) -> list:
    """(target, the value it receives) of an assignment: ``a, b = x, y`` pairs element by element;
    ``a, b = x.size()`` gives every element the whole value."""
    if not isinstance(target, (cst.Tuple, cst.List)):
        return [(target, value)]
    elements = [element.value for element in target.elements]
    if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(elements):
        return list(zip(elements, (element.value for element in value.elements)))
    return [(element, value) for element in elements]


def _reads_a_size(value: cst.BaseExpression) -> bool:
    """``x.shape[0]``, ``x.size(0)``, ``len(x)``, ``tf.shape(x)[0]`` somewhere in ``value``."""
    for node in own_nodes(value):
        if isinstance(node, cst.Attribute) and node.attr.value in ("shape", "size"):
            return True
        if isinstance(node, cst.Call) and isinstance(node.func, (cst.Name, cst.Attribute)):
            name = node.func.value if isinstance(node.func, cst.Name) else node.func.attr.value
            if name in ("len", "shape", "size", "numel"):
                return True
    return False


def block_statements(body) -> list:
    """Statements of an ``IndentedBlock``/``SimpleStatementSuite`` or a plain statement list."""
    if isinstance(body, (list, tuple)):
        return list(body)
    if isinstance(body, cst.SimpleStatementSuite):  # def f(x): return x  -- one line of small statements
        return [cst.SimpleStatementLine(body=body.body)]
    return list(body.body)


def int_value(node: cst.BaseExpression) -> int | None:
    if isinstance(node, cst.Integer):
        try:
            return int(node.evaluated_value)
        except ValueError:
            return None
    return None


class _IndexBuilder:
    def __init__(self) -> None:
        self.imports = ImportTable()
        self.functions: list[FunctionInfo] = []
        self.classes: dict[str, ClassInfo] = {}
        self.compile_calls: list[cst.Call] = []
        self.fit_calls: list[cst.Call] = []
        self.assignments: dict[str, cst.BaseExpression] = {}
        self.int_constants: dict[str, int] = {}
        self.module_names: set[str] = set()
        self.loss_calls: dict[str, list] = {}
        # functions stored as metrics by hand: metrics_["logloss"] = self._log_loss, metrics.append(auc)
        self.registered_metrics: set[str] = set()
        self.loss_aliases: set[str] = set()  # functions stored as the loss (self.criterion = dice_loss)

    def walk_block(self, statements, class_info, parent, module_level=False) -> None:
        for statement in statements:
            self.walk_statement(statement, class_info, parent, module_level)

    def walk_statement(self, statement, class_info, parent, module_level) -> None:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                self.small_statement(small, module_level, parent)
        elif isinstance(statement, cst.FunctionDef):
            info = FunctionInfo(statement, statement.name.value, class_info, parent)
            self.functions.append(info)
            if class_info is not None and not (info.name in class_info.methods and _property_writer(statement)):
                class_info.methods[info.name] = info  # (``self.x`` reads the getter, not its setter)
            if parent is not None:
                parent.nested.append(info)
            self.walk_block(block_statements(statement.body), None, info)
        elif isinstance(statement, cst.ClassDef):
            info = ClassInfo(statement, statement.name.value, [arg.value for arg in statement.bases])
            self.classes.setdefault(info.name, info)
            self.walk_block(block_statements(statement.body), info, parent)
        else:
            # if/for/while/with/try/match: walk every nested block, at the same level.
            for block in _nested_blocks(statement):
                self.walk_block(block, class_info, parent, module_level)

    def small_statement(self, small, module_level, parent=None) -> None:
        if isinstance(small, (cst.Import, cst.ImportFrom)):
            self.imports.add_statement(small)
            return
        value = None
        if isinstance(small, cst.Expr):
            value = small.value
        elif isinstance(small, cst.Assign):
            value = small.value
            for target in small.targets:
                if isinstance(target.target, cst.Name):
                    name = target.target.value
                    self.assignments[name] = small.value
                    number = int_value(small.value)
                    if module_level:
                        self.module_names.add(name)
                        if number is not None:
                            self.int_constants[name] = number
                        self._note_module_alias(name, small.value)
            if len(small.targets) == 1:
                self._note_loss_call(small.targets[0].target, small.value, parent)
                target = small.targets[0].target
                if isinstance(target, cst.Subscript) and _says_metrics(target.value):
                    self.registered_metrics.update(_function_names(small.value))
                elif isinstance(target, cst.Attribute) and any(word in target.attr.value.lower()
                                                               for word in ("loss", "criterion", "objective")):
                    self.loss_aliases.update(_function_names(small.value))  # self.criterion = dice_loss
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            value = small.value
            if isinstance(small.target, cst.Name):
                self.assignments[small.target.value] = small.value
        elif isinstance(small, cst.AugAssign) and isinstance(small.operator, cst.AddAssign):
            self._note_loss_call(small.target, small.value, parent)
        if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and value.func.attr.value == "append" \
                and _says_metrics(value.func.value) and value.args:
            self.registered_metrics.update(_function_names(value.args[0].value))
        if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute):
            method = value.func.attr.value
            if method == "compile":
                self.compile_calls.append(value)
            elif method in ("fit", "evaluate", "predict"):
                self.fit_calls.append(value)


    def _note_module_alias(self, name: str, value) -> None:
        """``k = tf.keras``, ``K = k.backend`` at module level: names for modules the file imported."""
        parts = dotted_parts(value) if isinstance(value, (cst.Name, cst.Attribute)) else None
        if not parts or name in self.imports.aliases:
            return
        qualified = self.imports.qualify(parts)
        if qualified is not None and qualified.split(".")[0] in _FRAMEWORK_MODULES:
            self.imports.aliases[name] = qualified

    def _note_loss_call(self, target, value, parent) -> None:
        """``loss = ssim(image, output)`` in a training loop: the function called is used as a loss
        (not ``val_loss = ...`` or ``test_loss = ...``: an evaluation)."""
        if isinstance(target, cst.Name) and isinstance(value, cst.Call) and isinstance(value.func, cst.Name) \
                and _LOSS_VARIABLE.search(target.value) and not _EVALUATION_VARIABLE.search(target.value):
            self.loss_calls.setdefault(value.func.value, []).append(parent)


# ``loss``, ``total_loss``, ``loss_g``, ``loss_d1``: a loss value (not ``loss_norm``, ``loss_mask``,
# ``loss_weights``: figures that go with one)
_LOSS_VARIABLE = compile_lazily(r"^(\w*_)?loss(es)?(_[a-z]?\d?)?$", re.IGNORECASE)
_EVALUATION_VARIABLE = compile_lazily(r"(^|_)(val|valid|validation|test|eval|dev)(_|$)", re.IGNORECASE)


def _nested_blocks(statement) -> list[list]:
    blocks: list[list] = []
    for attribute in ("body", "orelse", "finalbody"):
        part = getattr(statement, attribute, None)
        if part is None:
            continue
        if isinstance(part, (cst.Else, cst.If, cst.Finally)):
            if isinstance(part, cst.If):  # elif
                blocks.extend(_nested_blocks(part))
                continue
            part = part.body
        if isinstance(part, (cst.IndentedBlock, cst.SimpleStatementSuite)):
            blocks.append(block_statements(part))
    for handler in getattr(statement, "handlers", ()) or ():
        blocks.append(block_statements(handler.body))
    for case in getattr(statement, "cases", ()) or ():
        blocks.append(block_statements(case.body))
    return blocks


def _property_writer(function: cst.FunctionDef) -> bool:
    """``@scale.setter`` / ``@scale.deleter``: the writer of a property, never what ``self.scale`` runs.

        >>> import libcst as cst
        >>> _property_writer(cst.parse_statement("@scale.setter\\ndef scale(self, v):\\n    self._s = v\\n"))
        True
    """
    return any(isinstance(d.decorator, cst.Attribute) and d.decorator.attr.value in ("setter", "deleter")
               for d in function.decorators)


def _says_metrics(node) -> bool:
    """``metrics_``, ``self.metrics``, ``eval_metrics``: a container of metrics, by its name."""
    return "metric" in terminal_name(node).lower()


def _function_names(node) -> set[str]:
    """``auc``, ``self._log_loss``: the function a value names."""
    if isinstance(node, cst.Name):
        return {node.value}
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value in ("self", "cls"):
        return {node.attr.value}
    return set()

"""Training loops and train steps that compute their loss inline (syntax only, no facts).

A user's loss is often written where it is used: ``loss = F.mse_loss(model(x), y)`` and then
``loss.backward(); optimizer.step()`` in a loop over the data, or ``loss = ...`` inside ``with
tf.GradientTape() as tape:`` followed by ``tape.gradient(loss, ...)`` and ``apply_gradients``.
The part of the function that runs on every step is the body of the innermost loop around the
``backward`` (or ``tape.gradient``) call, or the whole function when no loop encloses it (a
``train_step`` the framework calls once per batch).

    >>> import libcst as cst
    >>> loop = cst.parse_statement(
    ...     "def train(model, loader, opt):\\n"
    ...     "    for x, y in loader:\\n"
    ...     "        loss = ((model(x) - y) ** 2).mean()\\n"
    ...     "        opt.zero_grad()\\n"
    ...     "        loss.backward()\\n"
    ...     "        opt.step()\\n")
    >>> [type(region).__name__ for region in per_step_region(loop)]
    ['For']
    >>> per_step_region(cst.parse_statement("def f(x):\\n    x.sum().backward()\\n")) is None
    True
"""

from __future__ import annotations

import re

import libcst as cst

from .facts import _bound_names
from .tape_calls import _argument, _makes_a_tape
from .names import terminal_name
from .tree import children, own_nodes
from .lazy_re import compile_lazily

# what a step does with its optimizer: an update (``opt.step()``, ``scaler.step(opt)``, Keras's
# ``apply_gradients``) or the optimizer's reset before the backward pass (``optimizer.zero_grad()``;
# ``model.zero_grad()`` alone is what input-gradient code does: FGSM, saliency maps, Grad-CAM)
_UPDATE_CALLS = frozenset({"apply_gradients", "minimize"})
_STEP_OWNERS = ("opt", "scaler")


def per_step_region(function: cst.FunctionDef) -> tuple[cst.CSTNode, ...] | None:
    """The code of ``function`` that runs on every training step: the innermost ``for``/``while``
    around each of its ``loss.backward()`` (or ``tape.gradient(loss, ...)``) calls, or ``function``
    itself when no loop encloses one (a pretraining loop and a GAN loop: both). None when the
    function takes no optimizer step on a loss it computes (an input gradient for an adversarial
    example, a saliency map). The backpropagated value may be written around the loss:
    ``scaler.scale(loss).backward()``, ``(loss / accum_steps).backward()``, ``losses.sum().backward()``."""
    bound: set[str] = set()  # names the function binds
    tapes: set[str] = set()  # names bound to a GradientTape
    candidates: list[tuple[cst.Call, cst.CSTNode]] = []  # x.backward() and t.gradient(x, ...), with x
    steps = False
    for node in own_nodes(function):  # one pass: this runs on every function of every file
        if isinstance(node, cst.Assign):
            bound.update(name for target in node.targets for name in _bound_names(target.target))
        elif isinstance(node, (cst.AugAssign, cst.AnnAssign)):
            bound.update(_bound_names(node.target))
        elif isinstance(node, cst.WithItem) and _makes_a_tape(node.item) and isinstance(node.asname, cst.AsName) \
                and isinstance(node.asname.name, cst.Name):
            tapes.add(node.asname.name.value)
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            receiver, method = node.func.value, node.func.attr.value
            if method == "backward":
                candidates.append((node, receiver))
            elif method == "gradient" and isinstance(receiver, cst.Name):
                target = tape_target(node)
                if target is not None:
                    candidates.append((node, target))
            steps = steps or _steps_an_optimizer(node)
    if not steps:
        return None
    regions: list[cst.CSTNode] = []
    for call, loss in candidates:
        if call.func.attr.value == "gradient" and call.func.value.value not in tapes:
            continue  # (the walk above is in no particular order: tapes are known only now)
        if any(isinstance(n, cst.Name) and n.value in bound for n in own_nodes(loss)):
            region = _innermost_loop(function, call) or function
            if not any(region is seen for seen in regions):  # a GAN's two backward calls in one loop
                regions.append(region)
    return tuple(regions) or None


def tape_target(call: cst.Call):
    """What ``tape.gradient(loss, ...)`` (or ``gradient(target=loss, ...)``) differentiates."""
    return _argument(call, 0, "target")


def _steps_an_optimizer(call: cst.Call) -> bool:
    """``optimizer.step()``, ``scaler.step(opt)``, ``opt.zero_grad()``, ``apply_gradients(...)``."""
    method = call.func.attr.value
    if method in _UPDATE_CALLS:
        return True
    owner = call.func.value
    owner_name = owner.attr.value if isinstance(owner, cst.Attribute) else \
        owner.value if isinstance(owner, cst.Name) else ""
    return method in ("step", "zero_grad") and any(word in owner_name.lower() for word in _STEP_OWNERS)


def _innermost_loop(root: cst.CSTNode, target: cst.CSTNode) -> cst.CSTNode | None:
    """The innermost ``for``/``while`` statement of ``root`` (not of a nested def) holding ``target``."""
    path = _path_to(root, target)
    loops = [node for node in path if isinstance(node, (cst.For, cst.While))]
    return loops[-1] if loops else None


def _path_to(root: cst.CSTNode, target: cst.CSTNode) -> list[cst.CSTNode]:
    if root is target:
        return [root]
    for child in children(root):
        if isinstance(child, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        path = _path_to(child, target)
        if path:
            return [root, *path]
    return []


# parameters a step calls that are not its networks: its loss functions, optimizers, callbacks
_NOT_A_NETWORK = ("loss", "crit", "opt", "sched", "metric", "callback", "log", "writer", "fn", "func", "transform",
                  "weight", "augment", "mix", "sampl", "collate", "score", "acc", "norm", "entropy", "divergence")
# a loss object handed in by its short name (``train_step(gan, batch, bce, opt)``)
_LOSS_SHORT_NAMES = frozenset({"bce", "ce", "mse", "mae", "nll", "kl", "kld", "l1", "l2", "huber", "focal", "dice",
                               "xent", "cce", "scce", "bce_fn", "mse_fn"})


def called_networks(function: cst.FunctionDef) -> frozenset[str]:
    """The parameters ``function`` calls (``policy(states)``, ``actor(s)``) and ``self`` (a Keras
    model's ``train_step`` runs ``self(x)``): in a training loop, the networks it trains. A
    parameter named for a loss, an optimizer or a callback is none.

        >>> import libcst as cst
        >>> f = cst.parse_statement("def step(policy, loss_fn, x):\\n    return loss_fn(policy(x))\\n")
        >>> sorted(called_networks(f))
        ['policy', 'self']
    """
    params = {p.name.value for p in (*function.params.posonly_params, *function.params.params,
                                     *function.params.kwonly_params)}
    called = {node.func.value for node in own_nodes(function)
              if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in params}
    return frozenset({name for name in called if not any(word in name.lower() for word in _NOT_A_NETWORK)
                      and name.lower() not in _LOSS_SHORT_NAMES} | {"self"})


def every_few_steps(test: cst.BaseExpression) -> bool:
    """``if step % 100 == 0``, ``if (i + 1) % log_every == 0 and verbose``: a branch taken once every
    few steps (logging, checkpoints), not on every step.

        >>> import libcst as cst
        >>> every_few_steps(cst.parse_expression("i % 10 == 0")), every_few_steps(cst.parse_expression("i > 0"))
        (True, False)
    """
    return any(isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Modulo)
               for node in own_nodes(test))


def takes_input_gradients(function: cst.FunctionDef) -> bool:
    """The function asks for gradients with respect to a tensor of its data (``x.requires_grad_()``,
    ``requires_grad=True``, ``tape.watch(x)``): an adversarial example or a penalty on the inputs,
    whose backward pass is not the training loss's."""
    for node in own_nodes(function):
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
                and node.func.attr.value in ("requires_grad_", "watch"):
            return True
        if isinstance(node, cst.Arg) and node.keyword is not None and node.keyword.value == "requires_grad":
            return True
        if isinstance(node, cst.Assign) and any(isinstance(t.target, cst.Attribute)
                                                and t.target.attr.value == "requires_grad" for t in node.targets):
            return True
    return False


# networks a training loop runs besides the ones it trains: a distillation teacher, a perceptual
# network (not a GAN's discriminator or generator, which the loop trains; not ``resnet``, a common
# name for the trained model itself; not ``loss_model`` or ``feature_extractor``, which in a loop
# often wrap or share the trained model: sentence-transformers' loss modules, a replay plugin)
_AUXILIARY_NETWORK = compile_lazily(r"^(teacher\w*|\w*_teacher|vgg\w*|perceptual\w*|lpips\w*|inception\w*"
                                    # a frozen copy kept for distillation or a KL anchor: model_fixed, old_model, ref_model
                                    r"|(fixed|frozen|old|prev|previous|ref|reference)_(model|net|network)"
                                    r"|(model|net|network)_(fixed|frozen|old|prev|previous|ref|reference))$",
                                    re.IGNORECASE)
# optimizers, by class name: a network whose parameters one takes is trained, not auxiliary
_OPTIMIZERS = frozenset({"SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam",
                         "LBFGS", "SparseAdam", "Lion", "Adafactor", "Optimizer"})


def runs_an_auxiliary_network(call: cst.Call, index, under_no_grad: bool = False, detached: bool = False) -> bool:
    """``teacher(x)``, ``self.vgg(x)``, ``vgg.forward(x)`` in a training loop, of a network the
    file freezes (``teacher.eval()``, ``requires_grad = False``) or that runs under ``no_grad``, and
    whose parameters the file (the ``ModuleIndex``) hands to no optimizer: a forward pass paid on
    every step for a network the loop does not train. ``detached``: the call's output is detached
    (``tf.stop_gradient(teacher(x))``, ``teacher(x).detach()``), evidence as ``training=False`` is.

        >>> import libcst as cst
        >>> from keras_bsguard.lint.module_index import ModuleIndex
        >>> index = ModuleIndex.build(cst.parse_module(
        ...     "def f():\\n    teacher.eval()\\n    vgg.eval()\\n    opt = SGD(vgg.parameters())\\n"))
        >>> runs_an_auxiliary_network(cst.parse_expression("teacher(x)"), index), \\
        ...     runs_an_auxiliary_network(cst.parse_expression("vgg(x)"), index)
        (True, False)
    """
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value in ("forward", "__call__"):
        func = func.value
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
        name = func.attr.value
    elif isinstance(func, cst.Name):
        name = func.value
    else:
        return False
    if not _AUXILIARY_NETWORK.match(name.lstrip("_")) or not call.args \
            or all(isinstance(a.value, (cst.Integer, cst.Float, cst.SimpleString)) for a in call.args):
        return False
    frozen, trained = _network_roles(index)
    # teacher(x, training=False): Keras inference mode, a network run for its outputs -- unless the
    # file trains a whole model that may hold it (``self.trainable_variables``,
    # ``model.trainable_variables``: fine-tuning keeps BatchNorm in inference mode the same way)
    inference = (detached or any(a.keyword is not None and a.keyword.value == "training"
                                 and isinstance(a.value, cst.Name) and a.value.value == "False" for a in call.args)) \
        and not trained & {"self", "model"}
    return (under_no_grad or inference or name in frozen) and name not in trained


def _network_roles(index) -> tuple[frozenset[str], frozenset[str]]:
    """The networks the file freezes and those it trains, by name, in one walk of the module.

    Frozen: ``vgg.eval()`` (also at the end of the line that builds it),
    ``teacher.requires_grad_(False)``, ``net.trainable = False``, or a loop over ``vgg.parameters()``
    that sets ``requires_grad = False``: networks run for their outputs. Trained: whose
    ``.parameters()`` (``.trainable_variables``) the file hands to an optimizer, ``tape.gradient``
    or ``apply_gradients`` (``torch.optim.Adam(self.vgg.parameters())`` gives ``vgg``), also
    through one assignment (``SGD(params)`` with ``params = list(a.parameters()) + ...``)."""
    found = index.__dict__.get("_network_roles")
    if found is not None:
        return found
    frozen, trained = set(), set()
    optimizers, assigned = [], {}
    stack = [index.module] if index.module is not None else []
    while stack:
        node = stack.pop()
        stack.extend(children(node))
        if isinstance(node, cst.Call) and terminal_name(node.func) in _OPTIMIZERS | _TRAINING_CALLS:
            optimizers.append(node)
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and (
                node.func.attr.value == "eval" and not node.args
                or node.func.attr.value == "requires_grad_" and node.args
                and isinstance(node.args[0].value, cst.Name) and node.args[0].value.value == "False"):
            frozen.update(_network_names(node.func.value))
        elif isinstance(node, cst.Assign):
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    assigned.setdefault(target.target.value, []).append(node.value)
                if isinstance(node.value, cst.Call) and isinstance(node.value.func, cst.Attribute) \
                        and node.value.func.attr.value == "eval":  # vgg = vgg19(weights=...).features[:16].eval()
                    frozen.update(_network_names(target.target))
                elif isinstance(node.value, cst.Name) and node.value.value == "False" \
                        and isinstance(target.target, cst.Attribute) and target.target.attr.value == "trainable":
                    frozen.update(_network_names(target.target.value))  # net.trainable = False
        elif isinstance(node, cst.For) and isinstance(node.iter, cst.Call) \
                and isinstance(node.iter.func, cst.Attribute) and node.iter.func.attr.value == "parameters" \
                and any(isinstance(inner, cst.Attribute) and inner.attr.value == "requires_grad"
                        for inner in own_nodes(node.body)):
            frozen.update(_network_names(node.iter.func.value))
    for node in optimizers:
        given = [a.value.value for a in node.args if isinstance(a.value, cst.Name)]
        for inner in [*own_nodes(node), *(n for name in given for value in assigned.get(name, ())
                                           for n in own_nodes(value))]:
            if isinstance(inner, cst.Attribute) and inner.attr.value in _TRAINED_WEIGHTS:
                trained.update(_network_names(inner.value))  # vgg.classifier.parameters(): vgg is trained
    found = index.__dict__["_network_roles"] = (frozenset(frozen), frozenset(trained))
    return found


def _network_names(node) -> set[str]:
    """``vgg`` of ``vgg``, ``self.vgg`` and ``vgg.features``: the name a network goes by."""
    while isinstance(node, cst.Attribute) and not (isinstance(node.value, cst.Name) and node.value.value == "self"):
        node = node.value
    if isinstance(node, cst.Attribute):
        return {node.attr.value}
    return {node.value} if isinstance(node, cst.Name) else set()


_TRAINED_WEIGHTS = frozenset({"parameters", "named_parameters", "trainable_variables", "trainable_weights"})
# calls that hand weights to training: tape.gradient(loss, net.trainable_variables),
# opt.apply_gradients(zip(grads, net.trainable_variables)), opt.add_param_group({...})
_TRAINING_CALLS = frozenset({"gradient", "apply_gradients", "minimize", "add_param_group"})


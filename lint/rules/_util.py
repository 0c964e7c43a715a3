"""Small helpers shared by rules."""

from __future__ import annotations

import re

import libcst as cst

from ..module_index import names_a_pretrained_builder
from ..names import dotted_parts, terminal_name
from ..tree import all_nodes, children as tree_children, own_nodes, own_nodes_in_order
from ..vocabulary import name_words
from ..lazy_re import compile_lazily

_EMPTY_MODULE = cst.Module([])


_BRACKET_SPACE = compile_lazily(r"(?<=[(\[{]) | (?=[)\]}])")


def code_of(node: cst.CSTNode, limit: int = 60) -> str:
    """Source text of a node, shortened for messages."""
    try:
        # one line: runs of whitespace become one space, none inside brackets (``log( y)`` -> ``log(y)``)
        text = _BRACKET_SPACE.sub("", " ".join(_EMPTY_MODULE.code_for_node(node).split()))
    except RecursionError:  # a 10,000-term expression: name its outermost piece only
        text = _shallow_text(node)
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
            stack.extend(tree_children(node))
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
    if op.namespace.startswith("keras.applications"):
        return op.name[:1].isupper()  # VGG16(...); not preprocess_input / decode_predictions (array functions)
    return op.qualified in KERAS_NETWORK_CONSTRUCTORS


# pretrained application networks, by the class names Keras and torchvision give them
_APPLICATION_NAME = compile_lazily(r"^(VGG1[69]|ResNet\d+(V2)?|InceptionV3|InceptionResNetV2|Xception|MobileNet(V2|V3\w*)?|"
                                   r"DenseNet\d+|EfficientNet\w*|NASNet\w*|ConvNeXt\w*|vgg1[69](_bn)?|resnet\d+)$")


def builds_a_network(node: cst.Call, op, ctx) -> bool:
    """A network built by this call: a resolved Keras constructor, or an application class the
    file did not define or import by name (``from ...applications.vgg16 import *``)."""
    if op is not None:
        return not op.is_method and builds_a_keras_network(op) and not _wraps_a_network(node, op, ctx)
    func = node.func
    if not isinstance(func, cst.Name) or not _APPLICATION_NAME.match(func.value):
        return False
    index = ctx.index
    return func.value not in index.imports.aliases and not index.functions_named(func.value) \
        and func.value not in index.classes and func.value not in index.assignments


_NETWORK_ENDS = frozenset({"input", "inputs", "output", "outputs", "get_layer"})


def _wraps_a_network(node: cst.Call, op, ctx) -> bool:
    """``Model(inputs=vgg.input, outputs=vgg.get_layer("block3_conv3").output)`` after ``vgg =
    VGG16(...)`` in the same loss: a functional model over that network's tensors makes no layer
    and loads no weights; the build of ``vgg`` is the cause, reported once, where it is. (Over a
    network built outside the loss, the Model is what the loss rebuilds: still reported.)"""
    return wrapped_build(node, op, ctx) is not None


def wrapped_build(node: cst.Call, op, ctx) -> cst.Call | None:
    """The call that built the network a functional ``Model(inputs=vgg.input, ...)`` wraps, when
    it is built in the same loss (``vgg = VGG16(...)``): the place its finding is reported, which
    the Model joins as a further place of that cause. Else None."""
    if op is None or op.name not in ("Model", "Functional"):
        return None
    for arg in node.args:
        for n in own_nodes(arg.value):
            if isinstance(n, cst.Attribute) and n.attr.value in _NETWORK_ENDS and isinstance(n.value, cst.Name):
                for assign in _walk_assignments(ctx.loss.node):
                    if isinstance(assign.value, cst.Call) and any(
                            isinstance(t.target, cst.Name) and t.target.value == n.value.value for t in assign.targets) \
                            and builds_a_network(assign.value, ctx.op(assign.value), ctx):
                        return assign.value  # (vgg = get_vgg19(): not a build we report, so the Model is)
    return None


# networks a loss may call besides the model being trained: perceptual, adversarial, feature extractors
_EXTRA_NETWORK_NAME = compile_lazily(r"^(vgg\w*|discriminator|disc|critic|d|g|generator|gen|feature_extractor|"
                                     r"(d|g)_?(model|net)|(net|model)_?(d|g)|"  # d_model(x), netD(x), model_G(z)
                                     r"perceptual\w*|lpips\w*|inception\w*|resnet\w*|teacher\w*|loss_network|"
                                     r"loss_model|loss_net|"
                                     # a frozen copy: MOON's global and previous nets, a mean teacher's EMA model
                                     r"(global|previous|prev|old|frozen|ema|momentum)_?(net|model|network|encoder))$",
                                     re.IGNORECASE)
# what a loss object (``class VGGLoss(nn.Module)``) calls its feature network besides the names
# above (not ``self.model`` or ``self.net``: sentence-transformers' losses hold and run the model
# being trained)
_LOSS_OBJECT_NETWORK = compile_lazily(r"^(features|feature_net\w*|feature_extractor\w*|extractor)$",
                                      re.IGNORECASE)
_FORWARD_METHODS = ("apply", "forward", "predict")


def network_name(node: cst.Call) -> str:
    """The name of the network a call runs: ``G`` of ``G(z)`` and of ``G.forward(z)``, ``vgg`` of
    ``self._vgg.apply(p, x)``."""
    func = node.func
    if isinstance(func, cst.Attribute) and func.attr.value in _FORWARD_METHODS \
            and isinstance(func.value, (cst.Name, cst.Attribute)):
        func = func.value
    return (terminal_name(func) or "").lstrip("_")


def runs_another_network(node: cst.Call, ctx) -> bool:
    """``self.vgg(y_pred)``, ``self.d(y_true)``, ``G(z)``, ``self.lpips.apply(params, a, b)``,
    ``self.transfer_model.loss_net(x)``: a network other than the trained model, run inside the
    loss on tensors."""
    func = node.func
    if isinstance(func, cst.Attribute) and func.attr.value == "apply" and _applies_the_trained_parameters(node, ctx):
        return False  # critic.apply(params, s): a JAX loss of params runs the model it differentiates
    if isinstance(func, cst.Attribute) and func.attr.value in _FORWARD_METHODS \
            and isinstance(func.value, (cst.Name, cst.Attribute)):
        func = func.value  # lpips.apply(params, x, y), self.vgg.forward(x): the network's forward pass
    if _in_a_loss_object(ctx) and _pretrained_attribute(func, ctx) and any(
            not isinstance(arg.value, (cst.Integer, cst.Float, cst.SimpleString)) for arg in node.args) \
            and not _prediction_without_gradient(node, ctx):
        return True  # self.model.encode_image(x) of self.model, _ = clip.load(...): a pretrained network
    if isinstance(func, cst.Name) and _in_a_loss_object(ctx) and _a_held_part(func.value, ctx) and any(
            not isinstance(arg.value, (cst.Integer, cst.Float, cst.SimpleString)) for arg in node.args):
        return True  # for block in self.blocks: block(x), the slices of a pretrained VGG
    if isinstance(func, cst.Call):
        # CriticNetwork(name="critic")(x): a module built and run in place (Haiku, Flax)
        return _runs_the_other_gan_network(func, ctx) and bool(node.args)
    nested = False
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value in ("self", "cls"):
        name = func.attr.value
    elif isinstance(func, cst.Attribute) and isinstance(func.value, cst.Attribute) \
            and isinstance(func.value.value, cst.Name) and func.value.value.value == "self":
        name, nested = func.attr.value, True  # self.transfer_model.loss_net(x)
    elif isinstance(func, cst.Name):
        name = func.value
    else:
        return False
    bare = name.lstrip("_")  # self._vgg_model(x) too
    if isinstance(func, cst.Name) and _the_differentiated_argument(name, ctx):
        return False  # loss_fn(generator, inputs) under pax.value_and_grad(loss_fn): the model it trains
    if gan_role(bare) is not None and gan_role(bare) in _roles_named_by_the_loss(ctx):
        return False  # the discriminator in discriminator_loss, G in g_loss: the network it trains
    if isinstance(func, cst.Name) and name not in ctx.evaluator.env and _built_by_the_factory(name, ctx):
        return bool(node.args)  # phi = keras.Model(vgg.input, ...) in PerceptualLoss(); phi(y_pred) in its loss
    in_loss_object = isinstance(func, cst.Attribute) and _in_a_loss_object(ctx)
    if not (_EXTRA_NETWORK_NAME.match(bare) or (in_loss_object and not nested and _LOSS_OBJECT_NETWORK.match(bare))):
        return False
    if isinstance(func, cst.Attribute) and not in_loss_object and not _penalises_input_gradients(ctx) \
            and not (_given_the_trained_model(ctx) and gan_role(bare) is None):
        return False  # a model's own compute_loss running its own sub-networks is its forward pass
        # (but a GAN's gradient penalty, self.critic(interpolated) then its input gradient, is an
        # extra forward and a double backward every step)
    if isinstance(func, cst.Attribute) and not nested and _is_own_method(name, ctx):
        return False  # self._vgg_outputs(x): a helper of this class, linted itself (the network call is in it)
    if isinstance(func, cst.Name) and _built_as_the_other_gan_network(name, ctx):
        return bool(node.args)  # critic = CriticNetwork(name="critic"); critic(fake) in a generator loss
    if isinstance(func, cst.Name) and (name in ctx.index.imports.aliases or ctx.index.functions_named(name)
                                       or _built_in_this_loss(name, ctx) or name in ctx.evaluator.lambdas):
        return False  # vgg = VGG19(...); vgg(y): the build is the finding
    return any(not isinstance(arg.value, (cst.Integer, cst.Float, cst.SimpleString)) for arg in node.args) \
        and bool(node.args)


def _the_differentiated_argument(name: str, ctx) -> bool:
    """``name`` is the first parameter of a function the file hands to a gradient transform
    (``def loss_fn(generator, inputs)`` and ``pax.value_and_grad(loss_fn)``): the transform
    differentiates that argument, so it holds the network being trained."""
    info = ctx.loss.info
    if info is None or not isinstance(info.node, cst.FunctionDef) or info.class_info is not None:
        return False
    params = [*info.node.params.posonly_params, *info.node.params.params]
    return bool(params) and params[0].name.value == name and info.node.name.value in ctx.index.differentiated()


def _prediction_without_gradient(node: cst.Call, ctx) -> bool:
    """The network sees the prediction inside ``torch.no_grad()``: nothing flows back to the
    model through it, so the object scores its input (CLIP-IQA, a metric), it trains nothing."""
    return bool(getattr(ctx, "no_grad_depth", 0)) and any("pred" in ctx.facts(a.value).taint for a in node.args)


def _built_by_the_factory(name: str, ctx) -> bool:
    """``name`` is a pretrained network the function enclosing the loss builds once and the loss
    runs on every call (``vgg = VGG19(weights="imagenet")``; ``phi = keras.Model(vgg.input, ...)``
    over it, in a ``PerceptualLoss()`` factory that returns ``def loss(y_true, y_pred): ...
    phi(y_pred)``). Not the model being trained (a ``Sequential`` the loss runs, a torchvision
    network whose ``parameters()`` an optimizer takes): its forward pass is the training step's own."""
    parent = ctx.loss.info.parent if ctx.loss.info is not None else None
    if parent is None:
        return False
    builds = {}
    for node in own_nodes(parent.node):
        if isinstance(node, cst.Assign) and isinstance(node.value, cst.Call):
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    builds[target.target.value] = node.value

    def pretrained(call) -> bool:
        op = ctx.op(call)
        if op is None or op.is_method:
            return False
        if op.namespace.startswith("keras.applications") and op.name[:1].isupper():
            return True  # VGG19(include_top=False, weights="imagenet")
        return op.qualified.startswith("torchvision.models.") and any(
            a.keyword is not None and a.keyword.value in ("pretrained", "weights") for a in call.args)

    def wraps_pretrained(call) -> bool:  # keras.Model(inputs=vgg.input, outputs=...) over one of them
        op = ctx.op(call)
        return op is not None and op.name in ("Model", "Functional") and any(
            isinstance(n, cst.Attribute) and isinstance(n.value, cst.Name) and n.value.value in builds
            and pretrained(builds[n.value.value]) for arg in call.args for n in all_nodes(arg.value))

    call = builds.get(name)
    if call is None or not (pretrained(call) or wraps_pretrained(call)):
        return False
    trained = {"trainable_variables", "trainable_weights", "parameters", "named_parameters"}
    return not any(isinstance(n, cst.Attribute) and isinstance(n.value, cst.Name) and n.value.value == name
                   and n.attr.value in trained for n in all_nodes(ctx.index.module))


def _runs_the_other_gan_network(build: cst.Call, ctx) -> bool:
    """``GeneratorNetwork(name="generator")`` in a critic's loss: a module class named for the GAN
    network the loss does not train (a Haiku or Flax module, built inside the transformed loss)."""
    role = gan_role(terminal_name(build.func) or "")
    return role is not None and bool(_roles_named_by_the_loss(ctx)) and role not in _roles_named_by_the_loss(ctx)


def _built_as_the_other_gan_network(name: str, ctx) -> bool:
    """``critic = CriticNetwork(name="critic")`` in this loss, which trains the generator."""
    return any(isinstance(assign.value, cst.Call) and _runs_the_other_gan_network(assign.value, ctx)
               and any(isinstance(t.target, cst.Name) and t.target.value == name for t in assign.targets)
               for assign in _walk_assignments(ctx.loss.node))


# a parameter that holds the network being trained
_TRAINED_MODEL_PARAMETER = frozenset({"model", "net", "network", "student", "student_model", "wrapped_model"})


def _given_the_trained_model(ctx) -> bool:
    """``compute_loss(self, model, inputs)`` of a trainer (Hugging Face's ``Trainer``): the network
    being trained comes in as a parameter, so ``self.teacher_model(...)`` is another network, not a
    sub-network of the model's own forward."""
    node = ctx.loss.node
    return isinstance(node, cst.FunctionDef) and any(
        p.name.value in _TRAINED_MODEL_PARAMETER for p in node.params.params)


# words of a parameter that holds the trained model's weights (or its lagged target copy) in a JAX
# loss of params: ``params``, ``online_params``, ``params_target``, ``variables``
_TRAINED_PARAMETER_WORDS = frozenset({"params", "param", "variables", "online", "target", "model", "train",
                                      "trained", "state", "theta", "weights", "new", "old", "current", "cur"})


def gan_role(name: str) -> str | None:
    """``generator``/``G``/``netG`` -> "generator"; ``discriminator``/``D``/``critic`` -> "discriminator"."""
    lowered = name.lower()
    if lowered in ("g", "netg", "gen") or lowered.startswith("generator"):
        return "generator"
    if lowered in ("d", "netd", "disc", "dis") or lowered.startswith(("discrim", "discim", "critic")):
        return "discriminator"
    return None


def _letter_words(name: str) -> list[str]:
    """A name's words without their trailing digits: ``loss_D2`` -> ``['loss', 'd']``, ``theta1`` ->
    ``['theta']``."""
    return [stripped for word in name_words(name) if (stripped := word.rstrip("0123456789"))]


def _roles_named_by_the_loss(ctx) -> set[str]:
    """The GAN networks the loss's name says it trains: ``discriminator_loss``, ``g_loss``,
    ``WGAN_Disciminator_loss``, ``GeneratorLoss.forward``, ``MPD.forward`` (an acronym ending in D)."""
    names = [ctx.loss.name.split(".")[-1]]
    if ctx.loss.info is not None and ctx.loss.info.class_info is not None:
        names.append(ctx.loss.info.class_info.name)
    roles = set()
    for name in names:
        for word in _letter_words(name):
            role = gan_role(word) if len(word) > 1 or word in ("g", "d") else None
            if role is not None:
                roles.add(role)
        if re.search(r"(^|_)[A-Z]{1,4}D($|_)", name):
            roles.add("discriminator")  # MPD, MSD, SBD: a multi-period, multi-scale, sub-band discriminator
    return roles


def _applies_the_trained_parameters(node: cst.Call, ctx) -> bool:
    """``critic.apply(params, s_tm1)``, ``model.apply({"params": params}, x)``,
    ``net.apply(params_target, s_t)``: a flax/haiku ``apply`` whose weights are a parameter of the
    function, either its first (what ``jax.grad`` differentiates) or one named as the trained
    weights (not ``disc_params``): the JAX loss of params runs the model it differentiates (or its
    target copy), not an extra network."""
    if not node.args or ctx.loss.info is None:
        return False
    first = node.args[0].value
    if isinstance(first, cst.Dict) and first.elements:
        element = first.elements[0]
        first = getattr(element, "value", None)
    if isinstance(first, cst.Attribute) and isinstance(first.value, cst.Name) and first.attr.value == "params":
        first = first.value  # state.params, train_state.params
    if not isinstance(first, cst.Name):
        return False
    own = {p.name.value for p in ctx.loss.info.node.params.params}
    own |= {p.name.value for p in ctx.loss.info.node.params.kwonly_params}
    if first.value not in own:
        return False
    positional = [p.name.value for p in ctx.loss.info.node.params.params if p.name.value not in ("self", "cls")]
    if positional[:1] == [first.value]:
        return True  # jax.grad differentiates the first argument: loss(g_params, d_params, z)
    words = _letter_words(first.value)
    return bool(words) and any(word in ("params", "param", "variables", "theta", "weights", "state")
                               for word in words) and all(word in _TRAINED_PARAMETER_WORDS for word in words)


def imports_a(ctx, head: str) -> bool:
    """The file imports the library ``head`` (``torch``, ``jax``) under any name."""
    return any(qualified.split(".")[0] == head for qualified in ctx.index.imports.aliases.values())


def torch_only(ctx) -> bool:
    """The file imports torch and neither TensorFlow, JAX nor Keras: eager PyTorch semantics apply
    (nothing is traced once; a norm's gradient at 0 is 0, not NaN)."""
    heads = {qualified.split(".")[0] for qualified in ctx.index.imports.aliases.values()}
    return "torch" in heads and not heads & {"tensorflow", "jax", "keras"}


def without_casts(node, ctx, casts: frozenset):
    """``node`` with the casts named in ``casts`` taken off (``tf.cast(x, tf.float32)``,
    ``x.float()``: ``x``)."""
    while isinstance(node, cst.Call):
        op = ctx.op(node)
        if op is None or op.name not in casts or not op.args:
            return node
        node = op.args[0]
    return node


def assignments_to(name: str, ctx) -> list:
    """The ``name = value`` statements of the loss's own body (nested functions left out), in source order."""
    return [node for node in own_nodes_in_order(ctx.loss.node) if isinstance(node, cst.Assign)
            and any(isinstance(t.target, cst.Name) and t.target.value == name for t in node.targets)]


def _built_in_this_loss(name: str, ctx) -> bool:
    """``name = <call>`` in the loss's own body (the network it calls was built there)."""
    for node in _walk_assignments(ctx.loss.node):
        if any(isinstance(t.target, cst.Name) and t.target.value == name for t in node.targets) \
                and isinstance(node.value, cst.Call):
            return True
    return False


def _walk_assignments(root):
    stack = [root.body] if isinstance(root, cst.FunctionDef) else []
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Assign):
            yield node
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.BaseExpression)):
            continue
        stack.extend(tree_children(node))


def _is_own_method(name: str, ctx) -> bool:
    info = ctx.loss.info
    return info is not None and info.class_info is not None and bool(info.class_info.methods_behind(name))


_GRADIENT_CALLS = frozenset({"gradient", "grad", "gradients"})  # tape.gradient, autograd.grad, tf.gradients


def _penalises_input_gradients(ctx) -> bool:
    """A gradient penalty (``def gradient_penalty(self, real, fake)``): named so and taking the
    gradient of a network's output with respect to its input inside the loss."""
    name = ctx.loss.name.lower()
    if "penalty" not in name and not re.search(r"(^|[._])(gp|r1|r2)($|_)", name):
        return False
    return any(isinstance(node, cst.Call) and (dotted_parts(node.func) or ("",))[-1] in _GRADIENT_CALLS
               for node in own_nodes(ctx.loss.node))


# calls that load a pretrained network: clip.load, torch.hub.load, AutoModel.from_pretrained, load_model
_PRETRAINED_LOADERS = frozenset({"load", "from_pretrained", "load_model"})
_NOT_A_NETWORK_NAME = compile_lazily(r"tokeni[sz]|processor|preprocess|transform|vocab|config", re.IGNORECASE)


def _pretrained_attribute(func, ctx) -> bool:
    """``self.model`` or ``self.model.encode_text`` where the loss object's ``__init__`` set
    ``self.model`` from a loader of pretrained networks (``self.model, _ = clip.load(...)``,
    ``AutoModel.from_pretrained(...)``, ``torch.hub.load(...)``) or an application class
    (``VGG16(...)``): a network other than the one being trained."""
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Attribute):
        func = func.value  # self.model.encode_image: the network's method
    if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self"):
        return False
    if _NOT_A_NETWORK_NAME.search(func.attr.value):
        return False  # self.tokenizer = AutoTokenizer.from_pretrained(...): text processing, not a network
    for call in ctx.index.init_calls(ctx.loss.info.class_info).get(func.attr.value, ()):
        last = terminal_name(_built_under_moves(call).func)
        if last in _PRETRAINED_LOADERS or _APPLICATION_NAME.match(last):
            return True
        if last == "Sequential" and _builds_a_pretrained_network(ctx):
            # self.slice1 = nn.Sequential(); self.slice1.add_module(str(x), vgg[x]) after
            # vgg = models.vgg19(pretrained=True).features: slices of that network (perceptual losses)
            return True
    return False


# calls that move a network or set its mode, and return it: ``vgg16(pretrained=True).to(device).eval()``
_NETWORK_MOVES = frozenset({"to", "cuda", "cpu", "eval", "train", "float", "half", "double", "requires_grad_"})


def _built_under_moves(call: cst.Call) -> cst.Call:
    """The call that built a network under the moves, mode switches, ``.features`` and slices
    applied to it: ``models.vgg16(pretrained=True).features[:16].to(device).eval()`` -> the
    ``vgg16(...)`` call (``call`` itself when nothing wraps it).

        >>> import libcst as cst
        >>> terminal_name(_built_under_moves(cst.parse_expression("models.vgg16(pretrained=True).features.to(d).eval()")).func)
        'vgg16'
    """
    node = call
    while True:
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in _NETWORK_MOVES:
            node = node.func.value
        elif isinstance(node, cst.Attribute) and node.attr.value == "features":
            node = node.value
        elif isinstance(node, cst.Subscript):
            node = node.value
        else:
            break
    return node if isinstance(node, cst.Call) else call


# what a perceptual loss calls the pieces of a pretrained network it keeps (``self.blocks``,
# ``self.slices``, ``self.selected_layers``, ``self.layers``)
_HELD_PARTS_NAME = compile_lazily(r"(^|_)(blocks|layers|slices|stages|features)$")


def _a_held_part(name: str, ctx) -> bool:
    """``name`` is a loop variable over the pieces of a pretrained network the loss object's
    ``__init__`` builds (``for block in self.blocks``, ``for name, layer in self.layers.items()``,
    ``for i, s in enumerate(self.slices)``): each call of it runs part of that network."""
    found = ctx.__dict__.get("_held_part_names")
    if found is None:  # the loop variables, read once per loss
        pieces = _pieces_of_a_pretrained_network(ctx.loss.info.class_info, ctx.index)
        found = set()
        for loop in own_nodes(ctx.loss.node):
            if isinstance(loop, cst.For) and any(
                    isinstance(n, cst.Attribute) and isinstance(n.value, cst.Name) and n.value.value == "self"
                    and _HELD_PARTS_NAME.search(n.attr.value) and n.attr.value in pieces for n in all_nodes(loop.iter)):
                found |= {n.value for n in all_nodes(loop.target) if isinstance(n, cst.Name)}
        ctx.__dict__["_held_part_names"] = found
    return name in found


def _pieces_of_a_pretrained_network(class_info, index) -> set[str]:
    """The attributes a loss object's ``__init__`` sets from a pretrained network it builds
    there: ``vgg = models.vgg19(pretrained=True).features; self.blocks = nn.ModuleList([vgg[:4],
    ...])``, ``self.layers = self.get_layers(vgg, names)`` (not its own layers, nor criteria);
    read once per class."""
    cache = index.__dict__.setdefault("_pretrained_pieces", {})
    if class_info.name not in cache:
        cache[class_info.name] = _pieces_built_in(class_info.methods.get("__init__"))
    return cache[class_info.name]


def _pieces_built_in(init) -> set[str]:
    if init is None:
        return set()
    networks, pieces = set(), set()
    for node in own_nodes_in_order(init.node):
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
                and node.func.attr.value in ("append", "extend", "add_module") \
                and isinstance(node.func.value, cst.Attribute) and isinstance(node.func.value.value, cst.Name) \
                and node.func.value.value.value == "self" \
                and {n.value for a in node.args for n in all_nodes(a.value) if isinstance(n, cst.Name)} & networks:
            pieces.add(node.func.value.attr.value)  # self.slices.append(vgg[i:j])
            continue
        if not isinstance(node, cst.Assign) or not isinstance(node.value, (cst.Call, cst.Subscript, cst.Attribute)):
            continue
        built = _built_under_moves(node.value) if isinstance(node.value, cst.Call) else None
        last = terminal_name(built.func) if built is not None else None
        pretrained = names_a_pretrained_builder(last) and not _NOT_A_NETWORK_NAME.search(code_of(built.func, 1000))
        mentions = {n.value for n in all_nodes(node.value) if isinstance(n, cst.Name)} & networks
        for target in node.targets:
            if isinstance(target.target, cst.Name) and (pretrained or mentions):
                networks.add(target.target.value)  # vgg = models.vgg19(...).features; feats = vgg[:16]
            elif isinstance(target.target, cst.Attribute) and isinstance(target.target.value, cst.Name) \
                    and target.target.value.value == "self" and (pretrained or mentions):
                pieces.add(target.target.attr.value)
    return pieces


def _builds_a_pretrained_network(ctx) -> bool:
    """The loss object's ``__init__`` builds a pretrained network (``models.vgg19(pretrained=True)``,
    ``efficientnet_b0(weights=...)``, ``VGG16(weights="imagenet")``, ``AutoModel.from_pretrained``)."""
    return ctx.loss.info.class_info.builds_a_pretrained_network()


def _in_a_loss_object(ctx) -> bool:
    """The loss is a method of a class named like a loss (``PerceptualLoss``, ``GeneratorLoss``)
    or derived from a loss base (``class bPERCEPTUALl(keras.losses.Loss)``)."""
    info = ctx.loss.info
    if info is None or info.class_info is None:
        return False
    owner = info.class_info.name.lower()
    if any(word in owner for word in ("loss", "criterion", "penalty", "objective", "perceptual")):
        return True
    return any((dotted_parts(base) or ("",))[-1].endswith("Loss") for base in info.class_info.bases)


def _shallow_text(node: cst.CSTNode) -> str:
    """A short stand-in for an expression too deep to print: ``tf.math.log(...)``, ``... + ...``."""
    if isinstance(node, cst.Call):
        try:
            return f"{_EMPTY_MODULE.code_for_node(node.func)}(...)"
        except RecursionError:
            return "(...)"
    if isinstance(node, cst.BinaryOperation):
        return "... " + _EMPTY_MODULE.code_for_node(node.operator).strip() + " ..."
    return "..."


def kept_on_self(node, ctx) -> bool:
    """The layer is stored on the object (``self.proj = nn.Linear(...)``, ``self.heads[k] = ...``):
    built once and kept (a lazy build on the first call), not rebuilt on every call."""
    kept = ctx.__dict__.get("_kept_on_self")
    if kept is None:
        kept = set()
        for statement in own_nodes(ctx.loss.node):
            if isinstance(statement, cst.Assign) and any(
                    is_self_attribute(t.target) or (isinstance(t.target, cst.Subscript)
                                                    and is_self_attribute(t.target.value))
                    for t in statement.targets):
                kept.update(id(n) for n in own_nodes(statement.value))
        ctx.__dict__["_kept_on_self"] = kept
    return id(node) in kept


def is_self_attribute(node) -> bool:
    """``self.x`` (any attribute of ``self``)."""
    return isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self"


# TensorFlow 1 graph-building APIs (gone from TF 2's namespace): a module that calls them builds
# its graph once, so what its loss creates is created once
_TF1_GRAPH_APIS = frozenset({"placeholder", "Session", "get_variable", "variable_scope", "random_uniform",
                             "random_normal", "log", "to_float", "to_int32", "global_variables_initializer"})


def tf1_graph_module(ctx) -> bool:
    """The file calls TensorFlow 1 graph APIs (``tf.placeholder``, ``tf.Session``, ``tf.log``,
    ``tf.random_uniform``, ``tf.get_variable``): its losses are built into a graph once, not run per
    step (cached on the module index)."""
    index = ctx.index
    found = index.__dict__.get("_tf1_graph_module")
    if found is None:
        from ..names import dotted_parts
        from ..tree import all_nodes
        found = False
        if index.module is not None and imports_a(ctx, "tensorflow"):
            eager = False
            for node in all_nodes(index.module):
                parts = dotted_parts(node.func) if isinstance(node, cst.Call) else None
                if not parts:
                    continue
                if parts[-1] == "enable_eager_execution":
                    eager = True  # TF 1 run eagerly: a loss runs (and makes its variables) every step
                # written as tf.log(...) with ``tf`` TensorFlow itself or ``tensorflow.compat.v1`` (the
                # file written against TF 1), not one tf.compat.v1 call in TF 2 code; tf.math.log is TF 2's
                if parts[1:-1] == [] and parts[-1] in _TF1_GRAPH_APIS \
                        and index.imports.aliases.get(parts[0]) in ("tensorflow", "tensorflow.compat.v1"):
                    found = True
            found = found and not eager
        index.__dict__["_tf1_graph_module"] = found
    return found

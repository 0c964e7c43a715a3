"""BSG201 random-in-loss (draws frozen at trace time), BSG202 stochastic-loss (opt-in)."""

from __future__ import annotations

import libcst as cst

from ._util import callee, torch_only
from ..facts import PRED, TRUE, calls_a_model
from ..losses import LOSS_CLASS_METHODS
from ..names import dotted_parts
from ..tree import own_nodes, own_nodes_in_order
from ..vocabulary import name_words
from .base import Rule

_STDLIB_SAMPLERS = frozenset(
    {"random", "uniform", "gauss", "normalvariate", "choice", "choices", "sample", "shuffle",
     "randint", "randrange", "betavariate", "expovariate", "gammavariate", "lognormvariate",
     "triangular", "vonmisesvariate", "paretovariate", "weibullvariate", "getrandbits"}
)
_NOT_SAMPLING = frozenset(
    {"set_seed", "seed", "PRNGKey", "key", "split", "fold_in", "SeedGenerator", "Generator",
     "key_data", "wrap_key_data", "get_global_generator", "set_global_generator", "get_state",
     "set_state", "create_rng_state", "clone_key", "key_impl", "make_seed"}
)
# host draws that can pick indices (an order, a subset); what they draw is read from its use
_HOST_SELECTIONS = frozenset({"choice", "choices", "permutation", "sample", "randint", "randrange"})
_PERMUTATIONS = frozenset({"randperm", "permutation"})
_TORCH_SAMPLERS = frozenset(
    {"rand", "randn", "randint", "rand_like", "randn_like", "randint_like", "normal", "bernoulli",
     "multinomial", "randperm", "poisson"}
)
_GRAPH_RANDOM_NAMESPACES = ("tensorflow.random", "keras.random", "jax.random")


def classify_randomness(op) -> str | None:
    """'frozen' (numpy/random: evaluated once at trace time), 'stochastic', or None."""
    namespace, name = op.namespace, op.name
    if namespace.startswith("numpy.random"):
        return None if name in _NOT_SAMPLING else "frozen"
    if namespace == "random" and name in _STDLIB_SAMPLERS:
        return "frozen"
    if namespace.startswith(_GRAPH_RANDOM_NAMESPACES):
        if name in _NOT_SAMPLING or name.startswith("stateless_"):
            return None
        return "stochastic"
    if namespace == "torch" and name in _TORCH_SAMPLERS:
        return "stochastic"
    if namespace == "keras.backend" and (name.startswith("random_") or name in ("dropout", "truncated_normal")):
        return "stochastic"
    if name.startswith("dropout") and namespace in ("tensorflow.nn", "torch.nn.functional", "jax.nn"):
        return "stochastic"
    return None


class RandomInLoss(Rule):
    """Random numbers drawn inside a loss that the compiled step freezes.

    **Why it hurts training.** ``numpy.random`` and Python's ``random`` run once, when Keras
    traces the train step (``tf.function``, ``jax.jit``): the "random" value is frozen into the
    compiled graph as a constant and every step reuses it. ``keras.random`` without a
    ``SeedGenerator`` is refused by Keras inside a JAX-traced step (an unseeded random op in a
    traced function). Graph randomness (``tf.random``, ``jax.random``, ``torch.rand*``) does vary
    from step to step: it is what BSG202 (opt-in) reports, since a loss that samples (negatives,
    noise, timesteps) usually does so by design. Eager PyTorch traces nothing: its numpy draws are
    BSG202 too.

    **Instead** put noise in the model or the data pipeline (a ``GaussianNoise``/``Dropout``
    layer, augmentation); if the loss truly needs sampling, use ``keras.random`` with a
    ``SeedGenerator`` created in ``__init__``, or the framework's own random ops.

    Before::

        def noisy_mse(y_true, y_pred):
            noise = np.random.normal(0.0, 0.01, size=(1,))
            return tf.reduce_mean(tf.square(y_true + noise - y_pred), axis=-1)

    After::

        def mse(y_true, y_pred):
            return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)
    """

    code = "BSG201"
    name = "random-in-loss"
    severity = "warning"
    summary = "numpy/random draws in a traced loss (frozen at trace time), keras.random without a seed"
    node_types = (cst.Call,)

    def check_node(self, node, ctx) -> None:
        drawn = random_draw(node, ctx)
        if drawn is not None and drawn[0] == "frozen":
            ctx.report(self, node, drawn[1])


class StochasticLoss(Rule):
    """A loss that draws random numbers from the framework on every step (opt-in).

    **Why it can hurt training.** Graph randomness (``tf.random``, ``jax.random``,
    ``torch.rand*``) and, in eager PyTorch, numpy or ``random`` draws run again on every step:
    the loss is noisy, its value and gradient change between two evaluations of the same batch,
    which hides real progress and makes runs irreproducible. Most losses that draw do so by
    design (sampled negatives, a diffusion loss's noise and timesteps, a sliced-Wasserstein
    projection, SimGCL's perturbations), so the rule is opt-in: ``--extend-select BSG202``. Not
    reported: draws in a function whose name says drawing is its job (``sample_negatives``,
    ``get_perturbation``), the random points of a gradient penalty, a network's inputs drawn
    inside the loss (a generator's ``z``), index picks in eager torch (``np.random.choice``), and
    ``keras.random`` with a ``SeedGenerator``.

    **Instead** move noise to the model or the data pipeline, or seed it explicitly.

    Before::

        def noisy_mse(y_true, y_pred):
            return tf.reduce_mean(tf.square(y_true + tf.random.normal(tf.shape(y_true)) - y_pred), axis=-1)

    After::

        def mse(y_true, y_pred):
            return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)
    """

    code = "BSG202"
    name = "stochastic-loss"
    severity = "info"
    opt_in = True
    summary = "graph randomness (and eager torch host draws) inside a loss: a noisy loss and gradient"
    node_types = (cst.Call,)

    def check_node(self, node, ctx) -> None:
        drawn = random_draw(node, ctx)
        if drawn is not None and drawn[0] == "stochastic":
            ctx.report(self, node, drawn[1])


def random_draw(node: cst.Call, ctx) -> tuple[str, str] | None:
    """``("frozen", message)`` for a draw a compiled step freezes (BSG201), ``("stochastic",
    message)`` for one drawn again every step (BSG202), None for no draw or an exempt one."""
    op = ctx.op(node)
    if op is None:
        return None
    kind = classify_randomness(op)
    if kind is not None and op.name.startswith("dropout") and _in_a_network(ctx):
        return None  # a model's dropout, reached from its calculate_loss: regularisation by design
    seed = op.kwargs.get("seed")
    if isinstance(seed, cst.Name) and seed.value == "None":
        seed = None  # seed=None: unseeded, as if left out
    if kind == "stochastic" and seed is not None and ctx.facts(seed).literal is None and \
            not isinstance(seed, (cst.List, cst.Tuple)):
        return None  # keras.random.*(seed=self.seed_generator): the supported way to draw noise under jit
    if kind == "stochastic" and op.namespace == "jax.random" and _passed_key(op):
        return None  # jax.random.normal(key, ...) with the caller's key: explicit, reproducible noise
    if kind == "frozen" and torch_only(ctx):
        if ctx.loss.kind == "helper":
            # eager torch runs the code every step, so nothing is frozen: a numpy or `random`
            # draw in a helper prepares data on the host (sampled targets, jittered ground truth)
            return None
        if op.name in _HOST_SELECTIONS and _draws_indices(node, ctx):
            return None  # idx = np.random.choice(n, 64); points[:, idx]: which points or negatives to
            # compare this step, drawn anew every step: subsampling by design, not noise in values
        if _feeds_an_input_gradient(node, ctx):
            return None  # alpha = Tensor(np.random.random(...)): WGAN-GP's random mix, drawn on the host
        return "stochastic", (f"`{callee(node)}` draws on the host every step: the same batch gives a "
                              "different loss and gradient each step; use torch's generator in the model or data")
    if kind == "frozen":
        return "frozen", (f"`{callee(node)}` runs once when the step is traced: "
                          "every step reuses the same frozen 'random' value")
    if kind != "stochastic":
        return None
    if op.name in _PERMUTATIONS and _draws_indices(node, ctx) and _reorders_both_sides(node, ctx):
        return None  # y_pred[:, order], y_true[:, order]: the entries reordered together (ties broken at
        # random), not noise; a subset (``perm[:k]``) or targets shuffled against predictions are
    if op.namespace.startswith("keras.random") and seed is None:
        # refused inside a JAX-traced step whatever the draw is for (a diffusion loss's noise too),
        # and a different loss each step elsewhere
        return "frozen", (f"`{callee(node)}` has no seed generator: Keras refuses an unseeded random op "
                          "inside a JAX-traced step, and elsewhere the loss changes every step; pass "
                          "seed=self.seed_generator (a keras.random.SeedGenerator made in __init__)")
    if ctx.opt_in_depth:
        return None  # under ``if self.n_samples is not None:``: noise the user opted into (subsampling, jitter)
    if _named_for_drawing(ctx):
        return None  # sample_negatives, _shuffle_codebooks, get_perturbation: drawing is what it is for
    if _bound_to_a_sample_name(node, ctx):
        return None  # negative_ids = uniform(..., dtype=int32): sampled negatives, the method's design
    if _feeds_an_input_gradient(node, ctx):
        return None  # WGAN-GP's random mix of real and fake, DRAGAN's perturbed points: where the
        # penalty's input gradient is taken is drawn at random by the method itself
    if _feeds_a_network_input(node, ctx):
        return None  # a diffusion loss's timesteps and noise, a generator's z, a dropped condition:
        # the network is run inside the loss on drawn inputs; the sampling is the objective
    return "stochastic", (f"`{callee(node)}` makes the loss stochastic: "
                          "the same batch gives a different loss and gradient each step")


# gradient calls and the argument that holds what they differentiate with respect to:
# torch.autograd.grad(outputs, inputs), tape.gradient(target, sources), tf.gradients(ys, xs)
_GRADIENT_INPUTS = {"grad": "inputs", "gradient": "sources", "gradients": "xs"}


def _draws_indices(draw: cst.Call, ctx) -> bool:
    """The drawn value is only used to index tensors: ``points[:, idx]`` with ``idx = draw``, or the
    draw written in the subscript itself (``x[np.random.permutation(n)]``). A draw used as a value
    (a random scale, a sign, a shift) or written through (``noisy[flip] = 0``: label noise) is noise,
    whatever function made it."""
    nodes = list(own_nodes(ctx.loss.node))
    bound = [t.target for node in nodes if isinstance(node, cst.Assign) and node.value is draw for t in node.targets]
    names = {t.value for t in bound if isinstance(t, cst.Name)}
    written = {id(t.target) for node in nodes if isinstance(node, cst.Assign) for t in node.targets} \
        | {id(node.target) for node in nodes if isinstance(node, cst.AugAssign)}
    slices = [(id(node) in written, [e.slice, *own_nodes(e.slice)])
              for node in nodes if isinstance(node, cst.Subscript) for e in node.slice]

    def the_draw(n) -> bool:
        return n is draw or (isinstance(n, cst.Name) and n.value in names)

    if any(is_written and any(map(the_draw, parts)) for is_written, parts in slices):
        return False
    indexing = {id(n) for is_written, parts in slices if not is_written for n in parts}
    # the draw's own call where it is assigned, and the names it is bound to, are not uses
    uses = [n for n in nodes if the_draw(n) and not (bound and n is draw) and not any(n is t for t in bound)]
    return bool(uses) and all(id(n) in indexing for n in uses)


def _reorders_both_sides(draw: cst.Call, ctx) -> bool:
    """The permutation is bound to a name, used whole, and indexes both a prediction and a target
    (``y_pred[:, order]`` and ``y_true[:, order]``): pairs stay pairs, only their order changes."""
    names = {n.value for node in own_nodes(ctx.loss.node) if isinstance(node, cst.Assign) and node.value is draw
             for t in node.targets for n in _plain_names(t.target)}
    if not names:
        return False
    sides = set()
    for node in own_nodes(ctx.loss.node):
        if isinstance(node, cst.Subscript) and any(
                isinstance(e.slice, cst.Index) and isinstance(e.slice.value, cst.Name) and e.slice.value.value in names
                for e in node.slice):
            sides |= ctx.facts(node.value).taint & {PRED, TRUE}
        elif isinstance(node, cst.Subscript) and isinstance(node.value, cst.Name) and node.value.value in names:
            return False  # order[:k]: a random subset
    return sides == {PRED, TRUE}


def _gradient_inputs(ctx) -> list[cst.BaseExpression]:
    """What the loss's own gradient calls differentiate with respect to, and what its tapes watch."""
    found = []
    for call in own_nodes(ctx.loss.node):
        if not isinstance(call, cst.Call):
            continue
        last = (dotted_parts(call.func) or [""])[-1]
        if last == "watch" and call.args:
            found.append(call.args[0].value)  # tape.watch(interpolated)
        elif last in _GRADIENT_INPUTS:
            keyword = _GRADIENT_INPUTS[last]
            named = [a.value for a in call.args if a.keyword is not None and a.keyword.value == keyword]
            positional = [a.value for a in call.args if a.keyword is None]
            found.extend(named or positional[1:2])
    return found


def _drawn_names(draw: cst.Call, ctx) -> set[str]:
    """The names the loss binds, through its assignments in order, to values made from the draw."""
    derived: set[str] = set()
    for node in own_nodes_in_order(ctx.loss.node):
        if not isinstance(node, (cst.Assign, cst.AugAssign)):
            continue
        parts = list(own_nodes(node.value))
        if node.value is draw or any(part is draw or (isinstance(part, cst.Name) and part.value in derived)
                                     for part in parts):
            targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            for target in targets:
                derived.update(n.value for n in _plain_names(target))
    return derived


_LOSS_CLASS_ENDINGS = ("loss", "error", "entropy", "crossentropy", "divergence", "criterion")


def _a_loss_object(func) -> bool:
    """``nn.MSELoss()(...)``, ``tf.keras.losses.MeanSquaredError()(...)``: a loss built and called in
    place (what it is given is compared, not run through a network)."""
    if not isinstance(func, cst.Call):
        return False
    parts = dotted_parts(func.func) or [""]
    return parts[-1].lower().endswith(_LOSS_CLASS_ENDINGS) or "losses" in parts


def _feeds_a_network_input(draw: cst.Call, ctx) -> bool:
    """The drawn value reaches, through the loss's assignments, an argument of a network the loss
    runs (``eps = randn_like(x0)``, ``xt = a * x0 + b * eps``, ``model(xt, t)``): the loss samples
    the network's inputs (diffusion timesteps and noise, a generator's latent, a dropped
    condition) by design."""
    derived = _drawn_names(draw, ctx)
    for call in own_nodes(ctx.loss.node):
        if isinstance(call, cst.Call) and call is not draw and calls_a_model(call.func, ctx.evaluator) \
                and not _a_loss_object(call.func):
            for arg in call.args:
                if any(n is draw or (isinstance(n, cst.Name) and n.value in derived) for n in own_nodes(arg.value)):
                    return True
    return False


def _feeds_an_input_gradient(draw: cst.Call, ctx) -> bool:
    """The drawn value flows, through the loss's assignments, into a value that a gradient call
    differentiates with respect to: the random points of a gradient penalty (``alpha = rand(...)``,
    ``x_hat = alpha * real + (1 - alpha) * fake``, ``grad(critic(x_hat), x_hat)``)."""
    inputs = _gradient_inputs(ctx)
    if not inputs:
        return False
    derived = _drawn_names(draw, ctx)
    return any(n.value in derived for expr in inputs for n in _plain_names(expr))


def _plain_names(node) -> list[cst.Name]:
    """The names a target binds or an argument passes as they are: ``x``, ``a, b``, ``[x]``; not the
    ``self`` of ``self.last = ...`` nor the index of ``x[i] = ...``."""
    if isinstance(node, cst.Name):
        return [node]
    if isinstance(node, (cst.Tuple, cst.List)):
        return [n for e in node.elements for n in _plain_names(e.value)]
    return []


def _passed_key(op) -> bool:
    """The JAX key is a value the code was given or split from one (``key``, ``keys[1]``,
    ``self.rng``), not one made here from a literal seed (``PRNGKey(0)``: the same noise every step)."""
    key = op.arg(0, "key")
    return key is not None and not isinstance(key, cst.Call)


def _in_a_network(ctx) -> bool:
    """The code runs in a network's own ``forward``/``call`` (a model class, not a loss class)."""
    info = ctx.loss.info
    owner = info.class_info if info is not None else None
    return owner is not None and info.name in LOSS_CLASS_METHODS \
        and not any(word in owner.name.lower() for word in ("loss", "criterion"))


# words in a function's name that say drawing at random is its job: negatives sampled for a
# contrastive loss, a permutation for an MMD's product of marginals, a perturbation for VAT
_DRAWING_WORDS = frozenset({"sample", "samples", "sampling", "subsample", "shuffle", "permute", "perturb",
                            "perturbation", "gumbel", "interpolate"})
# words that name a loss or what it measures: a name with one is the loss itself (per_sample_mse,
# permutation_invariant_l1), whatever else it says
_LOSS_WORDS = frozenset({"loss", "losses", "criterion", "objective", "penalty", "divergence", "mse", "mae", "l1", "l2",
                         "nll", "ce", "bce", "error", "distance", "invariant", "weighted", "per"})


# names of drawn negatives or sampled indices (``sample_indices``, ``neg_items``): sampling by design
_NEGATIVE_WORDS = frozenset({"negative", "negatives", "neg", "negs"})
_SAMPLED_WORDS = frozenset({"sample", "samples", "sampled"})
_INDEX_WORDS = frozenset({"indices", "index", "idx", "ids", "items"})


def _bound_to_a_sample_name(draw: cst.Call, ctx) -> bool:
    """The draw is assigned straight to a name that says it holds sampled negatives or sampled
    indices (``neg_items``, ``sample_indices``; not a bare ``noise_sample``)."""
    for node in own_nodes(ctx.loss.node):
        if isinstance(node, cst.Assign) and (node.value is draw or (
                _drawn_value(node.value) is draw and callee(draw).rsplit(".", 1)[-1] in _INDEX_DRAWS)):
            names = [n.value for t in node.targets for n in _plain_names(t.target)]
            return bool(names) and all(_names_sampled_picks(set(name_words(name))) for name in names)
    return False


# draws of indices, whose slice (randperm(n)[:k]) is still a pick of indices
_INDEX_DRAWS = frozenset({"randperm", "randint", "multinomial", "choice", "permutation"})


def _drawn_value(value):
    """The draw under ``randperm(n)[:k]``, ``randint(...).to(device)``, ``randperm(n).long()``: a
    slice of the draw, or the draw moved or cast, is still what was drawn."""
    while True:
        if isinstance(value, cst.Subscript):
            value = value.value
        elif isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) \
                and value.func.attr.value in ("to", "cuda", "long", "int", "type_as", "cpu"):
            value = value.func.value
        else:
            return value


def _names_sampled_picks(words: set[str]) -> bool:
    return bool(words & _NEGATIVE_WORDS) or bool(words & _SAMPLED_WORDS and words & _INDEX_WORDS)


def _named_for_drawing(ctx) -> bool:
    """The function the draw is in says by the first or last word of its name that drawing is its
    job (``sample_negatives``, ``_shuffle_codebooks``, ``q_sample``, ``get_perturbation``) and has
    no word of a loss in it: the noise is its purpose, not a slip."""
    name = ctx.loss.name.rsplit(".", 1)[-1] if ctx.loss.name else ""
    words = name_words(name)
    if not words or set(words) & _LOSS_WORDS:
        return False
    return words[0] in _DRAWING_WORDS or words[-1] in _DRAWING_WORDS

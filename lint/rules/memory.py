"""BSG601 pairwise-batch, BSG602 blowup-intermediate, BSG603 heavy-op."""

from __future__ import annotations

import re

import libcst as cst

from ..facts import BINARY_OPS, COMPARISON_OPS, FUNCTION_TRANSFORMS, KERAS_INPUTS, PRED, TRUE, einsum_terms
from ..names import called_name, dotted_parts, terminal_name
from ..train_steps import runs_an_auxiliary_network
from ..tree import all_nodes, contains, own_nodes
from ..vocabulary import name_words
from ._util import (assignments_to, builds_a_network, code_of, gan_role, is_self_attribute, is_true, kept_on_self,
                    literal_int, network_name, runs_another_network, wrapped_build)
from .base import Rule
from ..lazy_re import compile_lazily

_MATMUL_OPS = frozenset(name for name, symbol in BINARY_OPS.items() if symbol == "@")
# input + mat1 @ mat2 (torch; the old form puts beta and alpha first): mat1 @ mat2 is materialised
_ADD_MATMUL_OPS = frozenset({"addmm", "baddbmm"})  # addmm_ resolves to addmm
_PAIRWISE_OPS = frozenset({"cdist", "pairwise_distance", "pairwise_distances"})
_ROWWISE_OPS = frozenset({"cosine_similarity"})
_ELEMENTWISE_OPS = frozenset({"subtract", "sub", "add", "multiply", "mul", "divide", "squared_difference"}) | COMPARISON_OPS
_CONV_OPS = frozenset({"conv", "conv1d", "conv2d", "conv3d", "conv_transpose", "conv1d_transpose",
                       "conv2d_transpose", "conv3d_transpose", "depthwise_conv", "depthwise_conv2d",
                       "separable_conv", "separable_conv2d", "convolution", "conv_general_dilated",
                       "ssim", "ssim_multiscale", "ms_ssim", "multi_scale_ssim",
                       # torchmetrics.functional's SSIM: a Gaussian-window convolution of both images
                       "structural_similarity_index_measure", "multiscale_structural_similarity_index_measure"})
_FFT_OPS = frozenset({"fft", "ifft", "rfft", "irfft", "fft2", "ifft2", "rfft2", "irfft2", "fftn",
                      "ifftn", "rfftn", "irfftn", "stft", "istft", "fft2d", "fft3d", "rfft2d"})
_MATRIX_MAKERS = frozenset({"eye", "zeros", "ones", "full", "fill", "normal", "uniform", "rand", "randn", "random_normal",
                            "random_uniform"})
_STACK_OPS = frozenset({"stack", "cat", "concat", "concatenate"})
_TILE_OPS = frozenset({"tile", "repeat", "repeat_interleave", "repeat_elements"})
_TILE_FACTOR = 64
_BROADCAST_DIM = 4096
_LARGE_ELEMENTS = 1 << 20


class PairwiseBatch(Rule):
    """A batch x batch intermediate: ``x @ x.T``, ``matmul(a, b, transpose_b=True)``,
    ``cdist``, ``x[:, None] - x[None, :]``, ``x.view(B, 1, D) * y.view(1, B, D)``,
    ``labels == labels.T``, ``tile(x, [B, 1])`` or ``repeat_elements(x, B, axis=0)`` of a batch
    tensor (B x B rows), or a distance the loss is given (a ``Distance`` object,
    ``self.distance``) called on one batch twice or stored as a pairwise or distance matrix
    (``pairwise_distances = distance(query_emb, key_emb)``). Also two values of the batch one axis
    apart in rank, combined elementwise: ``y_true - y_pred[:, 0]`` (tf.keras's ``compile`` hands a
    1-D target over as (B, 1) beside a 2-D prediction, so the (B,) column meets its last axis; not
    in a Keras 3, torch or JAX file, a loss only a ``GradientTape`` loop calls, or one whose inputs
    show a third axis) or ``pred[:, 0:1] / pred[:, 1]``; there the loss itself is wrong (every
    sample is compared with every other), not only its memory. An axis added on purpose
    (``s[:, None] - s``, ``y_true[:, None] - y_pred``) is read as meant.

    **Why it hurts training.** Memory grows with the square of the batch size: at batch 32768 one
    float32 B x B matrix is 4 GiB, and its gradient as much again. Doubling the batch quadruples
    it, so a batch size that fits today runs out of memory after a harmless-looking increase, and
    a batch-size search stops far below what the rest of the model allows. Contrastive and
    metric-learning losses need it by design; then know that the batch size is capped by B^2.

    **Instead**, where the loss allows, compare each sample only with its own target or a fixed
    number of negatives; otherwise cap the batch (``BatchSizeGuard``) or compute the matrix in
    chunks.

    Before::

        def pairwise_loss(y_true, y_pred):
            dist = tf.reduce_sum(tf.square(y_pred[:, None, :] - y_pred[None, :, :]), axis=-1)
            return tf.reduce_mean(dist, axis=-1)

    After (when the loss only needs the distance to the class centres)::

        def centre_loss(y_true, y_pred):
            centres = tf.linalg.matmul(y_true, y_pred, transpose_a=True)  # C x D, not B x B
            return tf.reduce_sum(tf.square(y_pred - tf.matmul(y_true, centres)), axis=-1)
    """

    code = "BSG601"
    name = "pairwise-batch"
    severity = "warning"
    summary = "batch x batch intermediates (x @ x.T, broadcast differences): memory grows as B^2"
    node_types = (cst.Call, cst.BinaryOperation, cst.Comparison, cst.Subscript)

    def check_node(self, node, ctx) -> None:
        if isinstance(node, cst.Subscript):
            if _rows_of_a_transpose_per_sample(node, ctx):
                self._report(ctx, node, f"`{code_of(node)}` picks a row of the transposed (classes x batch) matrix "
                                        "for every sample: a B x B matrix (memory grows as B^2); gather one entry "
                                        "per sample along the class axis instead")
            return
        if ctx.no_grad_depth and not _pairs_a_value_with_itself(node, ctx):
            return  # under no_grad: hard-example mining's distances of the batch to itself count, a
            # matcher's cost of predictions against targets (not B x B) does not
        if isinstance(node, cst.BinaryOperation):
            if isinstance(node.operator, cst.MatrixMultiply):
                self._matmul(node, node.left, node.right, {}, ctx)
            else:
                self._broadcast(node, node.left, node.right, ctx, elementwise=True)
            return
        if isinstance(node, cst.Comparison):
            if len(node.comparisons) == 1:
                self._broadcast(node, node.left, node.comparisons[0].comparator, ctx, elementwise=True)
            return
        op = ctx.op(node)
        if op is not None and op.name in _TILE_OPS and op.args and ctx.facts(op.args[0]).is_tensor \
                and _tiles_by_batch(op, ctx):  # torch's x.repeat(B, 1) tiles; repeat(x, B) copies each row B times
            self._report(ctx, node, f"`{code_of(node)}` copies the batch by the batch size: B x B rows "
                                    "(memory grows as B^2)")
            return
        if op is not None and op.name in _STACK_OPS and op.args and _repeats_by_batch(op.args[0], ctx):
            self._report(ctx, node, f"`{code_of(node)}` stacks a batch tensor batch-size times (B x B x ...): "
                                    "memory grows as B^2")
            return
        if op is not None and _batch_by_batch_shape(op, ctx):
            # eye(B) or expand(n, n) usually serves a B x B similarity: that one is the root cause
            ctx.report_fallback(self, node, key=self.code, more="batch x batch intermediates",
                                message=f"`{code_of(node)}` builds a batch x batch tensor: memory grows as B^2")
            return
        if _pairwise_of_one_batch(node, op, ctx):
            self._report(ctx, node, f"`{code_of(node)}` computes the distance between every pair of rows of "
                                    "the batch (a B x B matrix): memory grows as B^2")
            return
        if (op is None or op.namespace.split(".")[0] not in _FRAMEWORK_ROOTS) and _pairwise_by_name(node, ctx):
            self._report(ctx, node, f"`{code_of(node)}` computes a distance or similarity for every pair of the "
                                    "batch (a B x B matrix): memory grows as B^2")
            return
        if isinstance(node, cst.Call) and (op is None or op.namespace.split(".")[0] not in _FRAMEWORK_ROOTS) \
                and not _names_a_criterion(node.func):  # a criterion pairs (input, target)
            # the project's own similarity, sim(z1.unsqueeze(1), z2.unsqueeze(0)): the batch as a
            # column against the batch as a row is broadcast to B x B, whatever the function does
            given = [arg.value for arg in node.args if not arg.star][:4]  # sim(a, b, tau), sim(x=a, y=b)
            for first in range(len(given)):
                for second in range(first + 1, len(given)):
                    self._broadcast(node, given[first], given[second], ctx)
        if op is None or len(op.args) < 2:
            if op is not None and op.name == "einsum":
                self._einsum(node, op, ctx)
            return
        if op.name in _MATMUL_OPS:
            self._matmul(node, op.args[0], op.args[1], op.kwargs, ctx)
        elif op.name in _ADD_MATMUL_OPS and len(op.args) >= 3:
            # dist.addmm_(1, -2, x, x.t()), torch.addmm(d, x, x.t()): the last two are multiplied
            self._matmul(node, op.args[-2], op.args[-1], {}, ctx)
        elif op.name == "einsum":
            self._einsum(node, op, ctx)
        elif op.name in _ROWWISE_OPS or (op.namespace.startswith("torch") and op.name == "pairwise_distance"):
            # row-wise (B), unless the operands broadcast against each other: z[:, None] vs z[None]
            self._broadcast(node, op.args[0], op.args[1], ctx)
        elif op.name in _PAIRWISE_OPS:
            # torch's F.pairwise_distance is row-wise (B), unlike cdist and TF Addons' pairwise_distance
            first, second = ctx.facts(op.args[0]), ctx.facts(op.args[1])
            # a side without the batch axis (class centres, one sample's points x[b:b + 1]) is no B x B
            if first.is_tensor and second.is_tensor and not first.no_batch_axis and not second.no_batch_axis:
                self._report(ctx, node, f"`{code_of(node)}` builds a batch x batch distance matrix: memory grows as B^2")
        elif op.name in _ELEMENTWISE_OPS:
            self._broadcast(node, op.args[0], op.args[1], ctx, elementwise=True)

    def _report(self, ctx, node, message: str) -> None:
        """One finding per loss: its first B x B intermediate, with the count of the others."""
        ctx.report_once(self, node, key=self.code, more="batch x batch intermediates", message=message)

    def _matmul(self, node, left, right, kwargs, ctx) -> None:
        if ctx.loss.kind == "helper" and "gram" in ctx.loss.name.lower():
            return  # a style loss's gram_matrix(x): features @ features.T pairs channels (C x C), not samples
        left_facts, right_facts = ctx.facts(left), ctx.facts(right)
        if not (left_facts.is_tensor and right_facts.is_tensor) or left_facts.no_batch_axis or right_facts.no_batch_axis:
            return
        axis = left_facts.batch_axis
        if axis is not None and isinstance(axis[0], int) and axis[0] >= 1:
            return  # x.permute(1, 0, 2, 3).view(C, -1): rows are channels, T @ T.T is C x C (whitening)
        # (B, D) @ (D, B): only a transposed right operand pairs samples; x.T @ x is D x D.
        right_transposed = (right_facts.transposed and not left_facts.transposed) or any(
            is_true(kwargs.get(k)) for k in ("transpose_b", "adjoint_b"))
        if right_transposed and not any(is_true(kwargs.get(k)) for k in ("transpose_a", "adjoint_a")):
            self._report(ctx, node, f"`{code_of(node)}` is a batch x batch matrix: memory grows as B^2")

    def _broadcast(self, node, left, right, ctx, elementwise=False) -> None:
        """B x B by broadcasting: a row against a column of the batch; with ``elementwise`` (an
        arithmetic operator or op, not a function of the project that may align its arguments),
        also two values of the batch one axis apart in rank."""
        left_facts, right_facts = ctx.facts(left), ctx.facts(right)
        if not (left_facts.is_tensor and right_facts.is_tensor) or left_facts.no_batch_axis or right_facts.no_batch_axis:
            return
        if elementwise and (fewer := _fewer_axes(left, right, left_facts, right_facts, ctx)) \
                and not any(_mixes_ranks(inner, ctx) for side in (left, right) for inner in all_nodes(side)):
            # (the innermost such operation is the cause: mean - y_true, not log(var) - square(mean - y_true))
            lower, higher = fewer
            keras = " (tf.keras hands a 1-D target over as (B, 1))" if ctx.facts(lower).rank_of[0] == KERAS_INPUTS else ""
            self._report(ctx, node, f"`{code_of(node)}` pairs every sample with every other: `{code_of(lower)}` has "
                                    f"fewer axes than `{code_of(higher)}`, so broadcasting lines its batch axis up "
                                    f"with the last axis of `{code_of(higher)}`; where that axis is 1{keras} the "
                                    "result is a B x B matrix (a wrong loss, and memory that grows as B^2). "
                                    "Index both sides alike (`y[:, 0]` with `y[:, 0]`, or keep the axis: `y[:, 0:1]`)")
            return
        axes = {left_facts.expanded_axis, right_facts.expanded_axis}
        # a row against a column; for a vector of per-sample scores, axis -1 is axis 1
        outer = axes == {0, 1} or axes == {0, -1}
        # labels == labels.T: a value against its own transpose ((B, 1) against (1, B))
        transposed_pair = left_facts.transposed != right_facts.transposed and _untransposed(left) == _untransposed(right)
        # expand_dims(x, 2) - transpose(y): (B, F, 1) against (F, B), every row of x against every
        # row of y through the features (TF's domain-separation MMD distances): B x F x B
        through_features = any(a.expanded_axis in (2, -1) and not a.transposed and b.transposed and b.expanded_axis is None
                               for a, b in ((left_facts, right_facts), (right_facts, left_facts)))
        if outer or transposed_pair or through_features:
            self._report(ctx, node, f"`{code_of(node)}` broadcasts the batch against itself (B x B): "
                                   "memory grows as B^2")

    def _einsum(self, node, op, ctx) -> None:
        if not op.args or not isinstance(op.args[0], cst.SimpleString):
            return
        operands, output = einsum_terms(op)
        spec = op.args[0].evaluated_value
        if "->" not in spec or "..." in spec:
            return
        tensors = op.args[1:]
        if len(operands) != 2 or len(tensors) != 2 or not all(ctx.facts(t).is_tensor for t in tensors):
            return
        if any(ctx.facts(t).no_batch_axis for t in tensors):
            return  # "bd,cd->bc" with a queue or prototypes: B x C, not B x B
        first_a, first_b = operands[0][:1], operands[1][:1]
        if len(operands[0]) >= 3 and len(operands[1]) >= 3 and operands[0][1] == operands[1][1] == "b" \
                and "b" not in output:
            return  # "tbd,sbd->ts": the letter that names the batch is shared, behind stacked views
        # "bct,nbct->tbn": the first operand's batch letter is an axis of the second one too (shared,
        # not paired); only two different batch letters, each of one operand alone, pair samples
        if first_a and first_b and first_a != first_b and first_a in output and first_b in output \
                and first_a not in operands[1] and first_b not in operands[0]:
            self._report(ctx, node, f"`{code_of(node)}` pairs every sample with every other (B x B): "
                                   "memory grows as B^2")


class BlowupIntermediate(Rule):
    """``tile``/``repeat``/``broadcast_to`` of the prediction (or a value carrying its gradient) by a
    large literal factor inside a loss (a copy by the batch size is a B x B intermediate: BSG601);
    labels tiled up to the prediction's shape are a copy of data no larger than the prediction.

    **Why it hurts training.** The tiled copy is materialised (and kept for the backward pass):
    a factor of 1000 turns a 100 MB activation into 100 GB. It is usually a way of writing a
    broadcast that the framework would do for free.

    **Instead** rely on broadcasting (``a[:, None] * b``) or reduce before expanding.

    Before::

        def loss(y_true, y_pred):
            expanded = tf.tile(y_pred, [1, 1024])
            return tf.reduce_mean(tf.square(expanded - y_true), axis=-1)

    After::

        def loss(y_true, y_pred):
            return tf.reduce_mean(tf.square(y_pred - y_true), axis=-1)
    """

    code = "BSG602"
    name = "blowup-intermediate"
    severity = "warning"
    summary = "repeat/tile/broadcast_to by a large literal factor"
    node_types = (cst.Call,)

    def check_node(self, node, ctx) -> None:
        op = ctx.op(node)
        if op is None or not op.args or not ctx.facts(op.args[0]).is_tensor:
            return
        if not ctx.facts(op.args[0]).has_grad:
            return  # labels tiled up to the prediction's shape: a copy of data no larger than the prediction
        if op.name in _TILE_OPS:
            if _tiles_by_batch(op, ctx):
                return  # copied by the batch size: a B x B intermediate (BSG601)
            factors = _literal_ints(ctx, op.args[1:] + [v for k, v in op.kwargs.items()
                                                        if k in ("multiples", "repeats", "reps", "rep", "n")])
            biggest = max(factors, default=0)
            if biggest >= _TILE_FACTOR:
                ctx.report(self, node, f"`{code_of(node)}` materialises {biggest} copies of a tensor: "
                                       "use broadcasting instead")
        elif op.name in ("broadcast_to", "expand"):
            dims = _literal_ints(ctx, op.args[1:] + [v for k, v in op.kwargs.items() if k in ("shape", "size")])
            biggest = max(dims, default=0)
            if biggest >= _BROADCAST_DIM:
                ctx.report(self, node, f"`{code_of(node)}` materialises a dimension of {biggest}: "
                                       "let broadcasting happen inside the op instead")


# what a metric-learning loss calls the matrix of every query against every key
# (plural or a matrix: ``pairwise_distances``, ``sim_matrix``; a siamese pair's ``pairwise_dist`` is one per row)
_PAIRWISE_RESULT = compile_lazily(r"pairwise_(distances|dists|similarities|sims|sim|scores)$|"
                                  r"(^|_)(dist|distance|sim|similarity|affinity)_?(mat|matrix)$", re.IGNORECASE)
_PAIRWISE_ONE = compile_lazily(r"pairwise_(dist|distance|similarity)$", re.IGNORECASE)
# a metric-learning library's distance object (pml's self.distance, tensorflow-similarity's
# distance), an MMD kernel: called on one batch twice, all pairs (not dist_func of a sequence's steps)
_PAIRWISE_CALLABLE = compile_lazily(r"^_?(distance|dist|similarity|sim|pairwise_distance|kernel)$", re.IGNORECASE)


# libraries whose calls the linter reads by their own names (a project's module is not one)
_FRAMEWORK_ROOTS = frozenset({"torch", "tensorflow", "keras", "jax", "flax", "optax", "numpy", "scipy", "math",
                              "builtins", "torchvision", "tf_keras", "sklearn"})


def _names_a_criterion(func) -> bool:
    """``self.loss_objectness``, ``criterion``, ``self.crit``: a loss criterion, called on (scores,
    targets, weights) with its own shape rules (not ``self.critic``, a network scoring pairs).

        >>> import libcst as cst
        >>> [_names_a_criterion(cst.parse_expression(t)) for t in ("self.loss_cls", "self.critic", "crit")]
        [True, False, True]
    """
    return any(word.endswith("loss") or word in ("criterion", "crit") for word in name_words(terminal_name(func)))


def _pairwise_by_name(node: cst.Call, ctx) -> bool:
    """``pairwise_distances = distance(query_emb, key_emb)``: a callable the loss is given (a
    parameter or an attribute: a Distance object, ``self.distance``), called on two batch tensors,
    whose result the code names a pairwise or distance matrix (tensorflow-similarity,
    pytorch-metric-learning), or a function of a module the file imports (``tool.get_distance_matrix``).
    A function of the file is read through, not named."""
    arguments = [a.value for a in node.args if a.keyword is None]
    if len(arguments) != 2 or not all(ctx.facts(a).is_tensor and not ctx.facts(a).no_batch_axis for a in arguments):
        return False
    func = node.func
    if isinstance(func, cst.Name):
        if func.value not in ctx.loss.param_taints and any(f.name == func.value for f in ctx.index.functions):
            return False
    elif isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) \
            and func.value.value in ctx.index.imports.aliases and func.value.value not in ctx.loss.param_taints:
        # tool.get_distance_matrix(f1, f2): a function of an imported module of the project, of
        # the batch's features against each other (not a prediction against its own target: a
        # chamfer or matching cost, one matrix per sample)
        sides = [ctx.facts(a).taint & {PRED, TRUE} for a in arguments]
        if {PRED} in sides and {TRUE} in sides:
            return False
    elif not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self") \
            or any(f.name == func.attr.value and f.class_info is not None for f in ctx.index.functions):
        return False  # self.calc_similarity(a, b) of the file: its own body is read (and reported) instead
    elif ctx.loss.info is not None and ctx.loss.info.class_info is not None and any(
            attr == func.attr.value and name[:1].isupper()
            for attr, name, _call in ctx.loss.info.class_info._init_constructions()):
        return False  # self.pdist = nn.PairwiseDistance(): a module the class builds, known by its class
    texts = [code_of(a, 200) for a in arguments]
    if texts[0] == texts[1] and _PAIRWISE_CALLABLE.search(called_name(node) or ""):
        return True  # distance(embeddings, embeddings): of each row with itself only it would be 0
    for statement in own_nodes(ctx.loss.node):
        if isinstance(statement, cst.Assign) and len(statement.targets) == 1 \
                and isinstance(statement.targets[0].target, cst.Name):
            value = statement.value
            if value is node or (isinstance(value, cst.BinaryOperation) and node in (value.left, value.right)):
                name = statement.targets[0].target.value
                # pairwise_dist of queries against keys (or of a batch against itself): all pairs
                return bool(_PAIRWISE_RESULT.search(name)) or (bool(_PAIRWISE_ONE.search(name)) and (
                    texts[0] == texts[1] or any(word in text.lower() for text in texts for word in ("query", "key", "ref"))))
    return False


_ONE_BATCH_PAIRWISE = frozenset({"pairwise_distance", "pairwise_distances", "pdist"})


def _rows_of_a_transpose_per_sample(node: cst.Subscript, ctx) -> bool:
    """``wf.transpose(0, 1)[labels]``: the (C, B) transpose of a batch-first matrix indexed by one
    class per sample gives B rows of B entries (the angular-margin losses then keep its diagonal).

        >>> import libcst as cst
        >>> from keras_bsguard.lint.facts import Facts, PRED, TRUE
        >>> class Ctx:
        ...     def facts(self, node):
        ...         text = cst.Module([]).code_for_node(node)
        ...         return {"wf.t()": Facts(taint=frozenset({PRED}), transposed=True),
        ...                 "labels": Facts(taint=frozenset({TRUE}))}.get(text, Facts())
        >>> _rows_of_a_transpose_per_sample(cst.parse_expression("wf.t()[labels]"), Ctx())
        True
        >>> _rows_of_a_transpose_per_sample(cst.parse_expression("wf.t()[0]"), Ctx())
        False
    """
    if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return False
    matrix = ctx.facts(node.value)
    if not (matrix.is_tensor and matrix.transposed) or matrix.no_batch_axis or matrix.on_host:
        return False
    picked = node.slice[0].slice.value
    if isinstance(picked, cst.Name) and hasattr(ctx, "loss") \
            and any(_index_tuple(a.value) for a in assignments_to(picked.value, ctx)):
        return False  # t[torch.nonzero(m, as_tuple=True)]: one entry per (row, column) pair, not whole rows
    index = ctx.facts(picked)
    return index.is_tensor and bool(index.taint & {PRED, TRUE}) and not index.no_batch_axis \
        and not index.boolean and not index.on_host and not index.shape and not _index_tuple(picked)


def _index_tuple(node) -> bool:
    """``torch.nonzero(m, as_tuple=True)``, ``torch.where(m)``: a tuple of index tensors, one per axis."""
    if not isinstance(node, cst.Call):
        return False
    name = terminal_name(node.func)
    if name == "nonzero":
        return any(a.keyword is not None and a.keyword.value == "as_tuple" and is_true(a.value) for a in node.args)
    return name == "where" and len(node.args) == 1


def _pairwise_of_one_batch(node, op, ctx) -> bool:
    """``pairwise_distance(embeddings, squared=True)`` (TF Addons' and tf.contrib's semi-hard
    triplet code, often copied into a project's own module), ``torch.pdist(z)``: one batch tensor,
    every pair of its rows. (torch's ``F.pairwise_distance(a, b)`` takes two and is row-wise.)"""
    arguments = [a.value for a in node.args if a.keyword is None]
    if len(arguments) != 1 or (called_name(node) or "") not in _ONE_BATCH_PAIRWISE:
        return False
    if op is None and any(f.name == called_name(node) for f in ctx.index.functions):
        return False  # the file's own function: its body is read instead
    rows = arguments[0]
    while isinstance(rows, cst.Call) and (called_name(rows) or "") in _ROW_PRESERVING and rows.args:
        rows = rows.args[0].value  # pdist(F.normalize(z)), pairwise_distance(tf.cast(e, tf.float32))
    if not isinstance(rows, (cst.Name, cst.Attribute)):
        return False  # pdist(z.t()), of segment means, of a stack of class prototypes: other rows
    if isinstance(rows, cst.Name) and any(
            isinstance(a.value, cst.Call) and (called_name(a.value) or "") not in _ROW_PRESERVING
            for a in assignments_to(rows.value, ctx)):
        return False  # protos = torch.stack([...]): rows the loss made, not the batch's
    facts = ctx.facts(rows)
    return facts.is_tensor and not facts.no_batch_axis and not facts.transposed and bool(facts.taint & {PRED, TRUE})


# calls that keep the rows of what they are given
_ROW_PRESERVING = frozenset({"normalize", "l2_normalize", "cast", "float", "double", "to", "contiguous", "detach",
                             "type_as", "convert_to_tensor", "squeeze"})


def _literal_ints(ctx, nodes) -> list[int]:
    values: list[int] = []
    for node in nodes:
        if isinstance(node, (cst.List, cst.Tuple)):
            values.extend(_literal_ints(ctx, [e.value for e in node.elements]))
        else:
            value = literal_int(ctx, node)
            if value is not None:
                values.append(value)
    return values


class HeavyOp(Rule):
    """A convolution, an FFT, a pretrained network or a large freshly built matrix inside the loss.

    **Why it can hurt training.** The loss runs every step, on every sample; a perceptual loss
    through a pretrained network or an SSIM with its Gaussian convolutions can cost more than
    the model itself, and a large matrix built inside the loss (``eye(4096)``) is re-created each
    step. In a training loop, a teacher or perceptual network the loop runs but does not train
    (no optimizer in the file takes its parameters) is the same cost, paid under ``no_grad`` too.
    This is informational: the op may well be what you want, but it should be a choice.

    **Instead** build constants once (in ``__init__`` or at module level), and budget for the
    cost: measure a step with and without the term.

    Before::

        def spectral_loss(y_true, y_pred):
            return tf.reduce_mean(tf.abs(tf.signal.rfft(y_true) - tf.signal.rfft(y_pred)), axis=-1)

    After (the same loss, with its cost made explicit in a Loss class built once)::

        class SpectralLoss(keras.losses.Loss):
            def call(self, y_true, y_pred):  # noqa: BSG603 - FFT is the point of this loss
                return tf.reduce_mean(tf.abs(tf.signal.rfft(y_true) - tf.signal.rfft(y_pred)), axis=-1)
    """

    code = "BSG603"
    name = "heavy-op"
    severity = "info"
    summary = "convolution, FFT or a large freshly built matrix inside the loss"
    node_types = (cst.Call,)

    def check_node(self, node, ctx) -> None:
        if ctx.loss.kind == "train-step":  # a training loop: only the networks it runs but does not train
            if ctx.loss.region is not None and not any(contains(region, node) for region in ctx.loss.region):
                return
            under_no_grad = bool(ctx.no_grad_depth)
            call = _detached_call(node)
            # the detach is the evidence: not for a call that is evidence alone (reported on its own
            # visit), nor for a teacher whose own output also reaches a loss undetached (mutual learning)
            if call is None or runs_an_auxiliary_network(call, ctx.index, under_no_grad=under_no_grad) \
                    or not runs_an_auxiliary_network(call, ctx.index, under_no_grad=under_no_grad, detached=True) \
                    or _also_called_undetached(call, ctx.loss.node):
                call = node if runs_an_auxiliary_network(node, ctx.index, under_no_grad=under_no_grad) else None
            if call is not None:
                ctx.report_once(self, call, key="BSG603-net", more="calls of extra networks", cost=True,
                                message=f"`{code_of(call)}` runs another network in the training step: its "
                                        "forward pass (and backward, where gradient flows through it) is paid "
                                        "on every step")
            return
        op = ctx.op(node)
        transformed = _transformed_op(node, ctx) if op is None else None
        if (builds_a_network(node, op, ctx) or (op is not None and op.qualified.startswith("torchvision.models."))) \
                and not kept_on_self(node, ctx):  # (``if self.vgg is None: self.vgg = VGG19(...)``: built once)
            ctx.report(self, node, f"`{code_of(node)}` builds a network inside the loss: it runs (and is rebuilt) "
                                   "every step")
        elif (built := wrapped_build(node, op, ctx)) is not None:
            ctx.relate_to_report(self.code, built, node)  # Model(inputs=vgg.input, ...): that network again
        elif (held := _held_transform(node, ctx)) is not None:
            kind, word = held
            ctx.report_once(self, node, key=f"BSG603-{kind}", more=f"{word}s",
                            message=f"`{code_of(node)}` runs {'an' if word == 'FFT' else 'a'} {word} inside the loss "
                                    "every step")
        elif transformed in _FFT_OPS:
            ctx.report_once(self, node, key="BSG603-fft", more="FFTs",
                            message=f"`{code_of(node)}` runs an FFT inside the loss every step")
        elif transformed in _CONV_OPS:
            ctx.report_once(self, node, key="BSG603-conv", more="convolutions",
                            message=f"`{code_of(node)}` runs a convolution inside the loss every step")
        elif op is None and runs_another_network(node, ctx):
            # a teacher's forward under no_grad is still run every step (a GAN's other network,
            # run under no_grad to make the fakes its step needs, is part of that objective)
            ctx.report_once(self, node, key="BSG603-net", more="calls of extra networks",
                            cost=gan_role(network_name(node)) is None,
                            message=f"`{code_of(node)}` runs another network inside the loss every step: its "
                                    "forward pass (and backward, where gradient flows through it) is part of every "
                                    "training step")
        elif op is None or op.is_method:
            return
        elif op.name in _CONV_OPS and op.namespace != "builtins":
            ctx.report_once(self, node, key="BSG603-conv", more="convolutions",
                            message=f"`{code_of(node)}` runs a convolution inside the loss every step")
        elif op.name in _FFT_OPS:
            ctx.report_once(self, node, key="BSG603-fft", more="FFTs",
                            message=f"`{code_of(node)}` runs an FFT inside the loss every step")
        elif op.name in _MATRIX_MAKERS and op.args:
            dims = _literal_ints(ctx, [op.args[0]])
            elements = 1
            for dim in dims or [0]:
                elements *= dim
            if op.name == "eye" and dims:
                elements = dims[0] * dims[0]
            if elements >= _LARGE_ELEMENTS:
                ctx.report(self, node, f"`{code_of(node)}` builds a {elements:,}-element tensor inside the loss "
                                       "every step: build it once")


def _detached_call(node: cst.Call) -> cst.Call | None:
    """The call whose output ``node`` detaches: ``x(...)`` of ``tf.stop_gradient(x(...))``,
    ``jax.lax.stop_gradient(x(...))`` or ``x(...).detach()``; None otherwise.

        >>> _detached_call(cst.parse_expression("tf.stop_gradient(self.teacher(x))")).func.attr.value
        'teacher'
        >>> _detached_call(cst.parse_expression("teacher(x).detach()")).func.value
        'teacher'
        >>> _detached_call(cst.parse_expression("tf.stop_gradient(y)")) is None
        True
    """
    func = node.func
    if isinstance(func, cst.Attribute) and func.attr.value == "detach" and not node.args \
            and isinstance(func.value, cst.Call):
        return func.value
    if terminal_name(func) == "stop_gradient" and len(node.args) == 1 and isinstance(node.args[0].value, cst.Call):
        return node.args[0].value
    return None


def _also_called_undetached(call: cst.Call, function) -> bool:
    """``teacher(x)`` also appears in ``function`` outside ``detach`` / ``stop_gradient``
    (``F.cross_entropy(teacher(x), y)`` beside ``teacher(x).detach()``): the network is trained.

        >>> f = cst.parse_statement("def step(x, y):\\n    t = teacher(x).detach()\\n    return ce(teacher(x), y) + t\\n")
        >>> _also_called_undetached(cst.parse_expression("teacher(x)"), f)
        True
    """
    callee = code_of(call.func)
    detached_inner = {id(inner) for node in own_nodes(function) if isinstance(node, cst.Call)
                      for inner in [_detached_call(node)] if inner is not None}
    return any(isinstance(node, cst.Call) and id(node) not in detached_inner and code_of(node.func) == callee
               for node in own_nodes(function))


# transform objects an ``__init__`` builds whose call runs an FFT (torchaudio's and nnAudio's
# spectrograms) or a convolution (SSIM modules: a Gaussian-window convolution of both images)
_FFT_TRANSFORMS = frozenset({"Spectrogram", "MelSpectrogram", "MFCC", "LFCC", "STFT", "InverseSpectrogram",
                             "GriffinLim", "CQT", "CQT1992v2", "CQT2010v2", "Gammatonegram"})
_CONV_TRANSFORMS = frozenset({"SSIM", "MS_SSIM", "MSSSIM", "SSIMLoss", "MS_SSIMLoss", "MultiScaleSSIMLoss",
                              "StructuralSimilarityIndexMeasure", "MultiScaleStructuralSimilarityIndexMeasure"})


def _held_transform(node: cst.Call, ctx) -> tuple[str, str] | None:
    """``self.to_mel(x)`` where ``__init__`` set ``self.to_mel = torchaudio.transforms.MelSpectrogram(...)``:
    the object's call runs an FFT (or, for an SSIM module, a convolution) every step. Also a loop
    variable over a list of them (``for stft in self.stfts``, ``zip(self.stfts, self.l1s)`` with
    ``self.stfts = nn.ModuleList([Spectrogram(n_fft=s) for s in scales])``)."""
    func = node.func
    info = ctx.loss.info
    if not (info is not None and info.class_info is not None and node.args):
        return None
    if is_self_attribute(func):
        attribute, listed = func.attr.value, False
    elif isinstance(func, cst.Name):
        attribute, listed = _looped_attribute(func.value, ctx.loss.node), True
        if attribute is None:
            return None
    else:
        return None
    for call in ctx.index.init_calls(info.class_info).get(attribute, ()):
        for built in _listed_calls(call) if listed else (call,):
            last = terminal_name(built.func)
            if last in ctx.index.classes:
                continue  # an SSIMLoss class of this file: linted itself, its convolutions reported there
            if last in _FFT_TRANSFORMS:
                return "fft", "FFT"
            if last in _CONV_TRANSFORMS:
                return "conv", "convolution"
    return None


def _looped_attribute(name: str, function) -> str | None:
    """``stfts`` where ``name`` is the loop variable of ``for name in self.stfts`` (or of
    ``enumerate(self.stfts)``, or its place in ``zip(self.stfts, self.l1s)``)."""
    for loop in own_nodes(function):
        if not isinstance(loop, cst.For):
            continue
        targets = [loop.target] if isinstance(loop.target, cst.Name) else \
            [e.value for e in loop.target.elements] if isinstance(loop.target, (cst.Tuple, cst.List)) else []
        sources = [loop.iter]
        if isinstance(loop.iter, cst.Call) and called_name(loop.iter) == "zip":
            sources = [a.value for a in loop.iter.args]
        elif isinstance(loop.iter, cst.Call) and called_name(loop.iter) == "enumerate" and loop.iter.args:
            sources = [None, loop.iter.args[0].value]
        if len(sources) == 1 and len(targets) > 1:
            continue  # for a, b in self.pairs: unpacked items, not the modules
        for target, source in zip(targets, sources):
            if isinstance(target, cst.Name) and target.value == name and is_self_attribute(source):
                return source.attr.value
    return None


def _listed_calls(call: cst.Call) -> list[cst.Call]:
    """The constructor calls a ``ModuleList([...])`` (or a list or tuple literal) holds, one per
    element or the comprehension's element."""
    values = [call]
    if terminal_name(call.func) in ("ModuleList", "list", "tuple") and call.args:
        values = [call.args[0].value]
    found = []
    for value in values:
        if isinstance(value, (cst.ListComp, cst.GeneratorExp)):
            value = value.elt
            found.extend([value] if isinstance(value, cst.Call) else [])
        elif isinstance(value, (cst.List, cst.Tuple)):
            found.extend(e.value for e in value.elements if isinstance(e.value, cst.Call))
    return found


def _transformed_op(node: cst.Call, ctx) -> str | None:
    """``jax.vmap(jnp.fft.fft)(x)``: the library op that a function transform wraps (``fft``)."""
    transform = node.func
    if not (isinstance(transform, cst.Call) and transform.args):
        return None
    parts = dotted_parts(transform.func)
    if not parts or parts[-1] not in FUNCTION_TRANSFORMS:
        return None
    wrapped = dotted_parts(transform.args[0].value)
    if not wrapped:
        return None
    qualified = ctx.index.imports.qualify(wrapped) or ""
    return wrapped[-1] if qualified.startswith(("jax.", "numpy.", "tensorflow.", "torch.")) else None


_SHAPE_FIRST_MAKERS = _MATRIX_MAKERS | {"empty"}
_SHAPE_METHODS = frozenset({"expand", "new_zeros", "new_ones", "new_full", "new_empty"})


def _batch_by_batch_shape(op, ctx) -> bool:
    """A tensor whose requested shape names one batch size twice: ``x.expand(n, n, d)``,
    ``broadcast_to(x, (B, B))``, ``zeros((n, n))``, ``eye(n)`` with ``n`` the batch size."""
    # broadcast_to(x, shape), x.expand(*shape): the shape follows the tensor
    if len(op.args) >= 2 and ((op.name == "broadcast_to" and not op.is_method)
                              or (op.name in _SHAPE_METHODS and op.is_method)):
        dims = _dims(op.args[1:])
    elif op.name in _SHAPE_FIRST_MAKERS and not op.is_method and op.args:
        dims = _dims(op.args[:1]) if op.name in ("full", "fill") else _dims(op.args)
        if op.name == "eye":
            dims = dims[:2] if len(dims) >= 2 else dims * 2  # eye(n) is n x n
    else:
        return False
    # the same size twice (n, n): N boxes against M boxes of another tensor are two sets, not B x B
    batch_dims = [code_of(dim, 200) for dim in dims if ctx.facts(dim).batch_dim]
    return len(batch_dims) != len(set(batch_dims))


def _dims(args) -> list:
    """The dimensions of a shape given as varargs (``expand(n, n)``) or one list/tuple."""
    if len(args) == 1 and isinstance(args[0], (cst.List, cst.Tuple)):
        return [element.value for element in args[0].elements]
    return list(args)


def _repeats_by_batch(parts, ctx) -> bool:
    """``[x] * batch_size`` with ``x`` a tensor of the batch: B copies of a B-row tensor."""
    if not (isinstance(parts, cst.BinaryOperation) and isinstance(parts.operator, cst.Multiply)):
        return False
    for listed, count in ((parts.left, parts.right), (parts.right, parts.left)):
        if isinstance(listed, (cst.List, cst.Tuple)) and len(listed.elements) == 1 and ctx.facts(count).batch_dim:
            element = ctx.facts(listed.elements[0].value)
            return element.is_tensor and not element.no_batch_axis
    return False


def _tiles_by_batch(op, ctx) -> bool:
    """``tile(x, [batch_size, 1])`` of a tensor that already has the batch axis: B x B rows."""
    copied = ctx.facts(op.args[0])
    # (x.repeat(...) says x is a tensor; repeat(stride, n) of a loop's entry may be a number)
    if copied.no_batch_axis or (copied.maybe_list and not copied.named_tensor and not op.is_method):
        return False  # a few numbers (new_tensor([w, h, w, h])), one entry of a list, copied per box
    for value in op.args[1:] + list(op.kwargs.values()):
        elements = [e.value for e in value.elements] if isinstance(value, (cst.List, cst.Tuple)) else [value]
        if any(ctx.facts(e).batch_dim for e in elements):
            return True
    return False


# what leaves a value the same rows: the views and casts a pairing is written through
_SAME_ROWS = frozenset({"unsqueeze", "view", "reshape", "expand", "expand_as", "t", "transpose", "permute", "float",
                        "double", "detach", "contiguous", "squeeze", "expand_dims"})


def _rows_source(node) -> str:
    """Source text of the value whose rows an operand holds: ``feats[:, None]``,
    ``feats.unsqueeze(1)``, ``tf.expand_dims(feats, 0)`` and ``feats.T`` are all ``feats``; not
    ``outputs["pred_points"]``, another value than ``outputs["gt_points"]``."""
    return _stripped_text(node, _SAME_ROWS, through_subscripts=True)


def _pairs_a_value_with_itself(node, ctx) -> bool:
    """The two operands of a pairing hold the rows of one value (``cdist(x, x)``, ``x @ x.T``,
    ``labels == labels.T``): the batch against itself, whatever views it goes through."""
    if isinstance(node, cst.BinaryOperation):
        operands = [node.left, node.right]
    elif isinstance(node, cst.Comparison) and len(node.comparisons) == 1:
        operands = [node.left, node.comparisons[0].comparator]
    else:
        op = ctx.op(node) if isinstance(node, cst.Call) else None
        operands = list(op.args[-2:]) if op is not None and len(op.args) >= 2 else []
    return len(operands) == 2 and _rows_source(operands[0]) == _rows_source(operands[1])


def _untransposed(node) -> str:
    """Source text of a value with its transposes removed: ``labels.T``, ``tf.transpose(labels)``
    and ``labels`` are one value."""
    return _stripped_text(node, _TRANSPOSE_LIKE)


def _stripped_text(node, methods, through_subscripts: bool = False) -> str:
    """Source text of ``node`` once ``.T`` and the ``methods`` it goes through are taken off
    (``labels.t()``, ``tf.transpose(labels)``), and index subscripts too when asked (string keys
    name another value and stay)."""
    while True:
        if through_subscripts and isinstance(node, cst.Subscript) and not any(
                isinstance(e.slice, cst.Index) and isinstance(e.slice.value, cst.SimpleString) for e in node.slice):
            node = node.value
        elif isinstance(node, cst.Attribute) and node.attr.value in ("T", "mT"):
            node = node.value
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in methods:
            if code_of(node.func.value, 200).split(".")[0] in _MODULE_NAMES:  # tf.transpose(labels)
                if not node.args:
                    return code_of(node, 200)
                node = node.args[0].value
            else:  # labels.t(), labels.transpose(0, 1), labels.float()
                node = node.func.value
        else:
            return code_of(node, 200)


_TRANSPOSE_LIKE = frozenset({"t", "transpose", "permute", "contiguous", "float", "long", "int", "to", "type",
                             "cast", "matrix_transpose"})
_MODULE_NAMES = frozenset({"tf", "tensorflow", "torch", "np", "numpy", "jnp", "jax", "K", "keras", "ops", "backend"})


def _fewer_axes(left, right, left_facts, right_facts, ctx):
    """(lower, higher): two values of one root's rank (``Facts.rank_of``), both with the batch axis
    first, the first with fewer axes (``y_true - y_pred[:, 0]``), where neither added an axis (a
    pairwise ``s[:, None] - s`` is meant); else None. Across Keras's ``y_true`` and ``y_pred`` only
    where tf.keras widens a 1-D target (see ``_target_widened``)."""
    ranks = left_facts.rank_of, right_facts.rank_of
    if None in ranks or ranks[0][0] != ranks[1][0] or ranks[0][1] == ranks[1][1]:
        return None
    if min(ranks[0][1], ranks[1][1]) < 0:
        return None  # y_true[:, None] - y_pred, s[:, None] - s: an axis added on purpose (pairs, or a 1-D target)
    if ranks[0][0] == KERAS_INPUTS and not _target_widened(ctx):
        return None
    if any(f.batch_axis is not None or f.transposed or f.expanded_axis == 0 for f in (left_facts, right_facts)):
        return None
    return (left, right) if ranks[0][1] > ranks[1][1] else (right, left)


def _mixes_ranks(node, ctx) -> bool:
    """``node`` is an arithmetic operation of two values of one root one axis apart (see
    ``_fewer_axes``)."""
    if isinstance(node, cst.BinaryOperation) and not isinstance(node.operator, cst.MatrixMultiply):
        left, right = node.left, node.right
    elif isinstance(node, cst.Comparison) and len(node.comparisons) == 1:
        left, right = node.left, node.comparisons[0].comparator
    else:
        return False
    left_facts, right_facts = ctx.facts(left), ctx.facts(right)
    return left_facts.is_tensor and right_facts.is_tensor and not left_facts.no_batch_axis \
        and not right_facts.no_batch_axis and _fewer_axes(left, right, left_facts, right_facts, ctx) is not None


def _target_widened(ctx) -> bool:
    """Whether ``y_true`` may reach this loss with ``y_pred``'s rank: tf.keras's ``compile``
    expands a 1-D target to (B, 1) when ``y_pred`` is 2-D (``match_dtype_and_rank``). So: a file
    that imports TensorFlow and neither torch nor JAX, whose losses are compiled (not only called
    in a ``GradientTape`` loop), and a loss that shows no third axis of its inputs (``y_pred[:, :,
    0]``, ``y[..., 0]``, a reduction over axis 2 or ``[1, 2]``: a sequence model, whose 2-D target
    is not widened). Read once per loss."""
    cached = ctx.__dict__.get("_target_widened")
    if cached is None:
        cached = ctx.__dict__["_target_widened"] = _reads_a_widened_target(ctx)
    return cached


def _reads_a_widened_target(ctx) -> bool:
    """See ``_target_widened``."""
    heads = {qualified.split(".")[0] for qualified in ctx.index.imports.aliases.values()}
    if "tensorflow" not in heads or heads & {"torch", "jax"}:
        return False
    if not ctx.index.compile_calls and ctx.index.module is not None and any(
            isinstance(n, cst.Attribute) and n.attr.value == "GradientTape" for n in all_nodes(ctx.index.module)):
        return False
    for node in all_nodes(ctx.loss.node):
        if isinstance(node, cst.Subscript) and (len(node.slice) >= 3 or any(
                isinstance(e.slice, cst.Index) and isinstance(e.slice.value, cst.Ellipsis) for e in node.slice)):
            return False
        if isinstance(node, cst.Arg) and node.keyword is not None and node.keyword.value in ("axis", "dim") \
                and _names_a_third_axis(node.value, ctx):
            return False
    return True


def _names_a_third_axis(value, ctx) -> bool:
    """``2``, ``-2``, ``[1, 2]``, ``(1, 2)``: an axis beyond (B, C)."""
    if isinstance(value, (cst.List, cst.Tuple)):
        return len(value.elements) >= 2 or any(_names_a_third_axis(e.value, ctx) for e in value.elements)
    number = literal_int(ctx, value)
    return number is not None and (number >= 2 or number <= -2)

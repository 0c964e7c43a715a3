"""BSG701 host-sync, BSG702 state-in-loss."""

from __future__ import annotations

import re
from dataclasses import replace

import libcst as cst

from ..facts import ARRAY_MODULES, PRED, TRUE, copies_to_the_cpu
from ..names import dotted_parts, terminal_name
from ..tree import all_nodes, contains, own_nodes
from ._util import (assignments_to, builds_a_network, callee, code_of, imports_a, is_self_attribute, kept_on_self,
                    tf1_graph_module,
                    loss_calls_any, torch_only, wrapped_build)
from ..losses import LOSS_CLASS_METHODS, compile_loss_arguments
from .base import Rule
from ..lazy_re import compile_lazily


# np.shape(t), np.ndim(t): numpy returns ``t.shape`` / ``t.ndim`` when the object has them (a
# tf.Tensor, a jax array and a torch tensor do), reading no value
_NUMPY_SHAPE_READS = frozenset({"shape", "ndim"})
_SYNC_METHODS = frozenset({"numpy", "item", "tolist", "cpu", "block_until_ready"})
_SYNC_FUNCTIONS = frozenset(
    {"tensorflow.py_function", "tensorflow.numpy_function", "tensorflow.py_func",
     "keras.backend.eval", "keras.backend.get_value", "keras.backend.batch_get_value",
     "keras.ops.convert_to_numpy", "jax.pure_callback", "jax.device_get",
     "jax.experimental.io_callback", "numpy.array", "numpy.asarray"}
)
# debugging callbacks that run every step of a jitted function (they print or call Python each time)
_DEBUG_CALLBACKS = frozenset({"jax.debug.print", "jax.debug.callback"})
_CONVERSIONS = frozenset({"float", "int", "bool"})
# makers whose leading arguments are sizes (``full(size, value)``: the first only)
_SIZED_MAKERS = frozenset({"eye", "zeros", "ones", "empty", "full", "arange", "randn", "rand", "randint", "randperm"})
_SIZE_ARGUMENTS = {"full": 1, "randint": 3}
# ops whose output length is set by the values (``torch.unique(target)``, ``torch.nonzero(mask)``,
# ``masked_select``): torch waits for the device to learn it; under jax.jit they cannot be traced
# unless given ``size=``. (Judged true on user code and libraries alike: a sync every step in eager
# torch, a graph break under torch.compile; a mask that weights the terms avoids it.)
_TORCH_VALUE_SIZED = frozenset({"unique", "unique_consecutive", "nonzero", "argwhere", "masked_select"})
# the sparse selections among them (and one-argument ``where``): not reported under an option the
# defaults switch off, as a boolean mask's selection is not (judged on libraries, such code was the
# most common false finding: ``if self.ignore_index is not None:`` with ``ignore_index=None``)
_TORCH_SELECTIONS = frozenset({"nonzero", "argwhere", "masked_select", "where"})
# torch's whole-tensor tests that answer with a Python bool (``torch.equal(zeros, x)``)
_TORCH_BOOL_TESTS = frozenset({"equal", "allclose", "is_nonzero"})
_JAX_VALUE_SIZED = frozenset({"unique", "unique_values", "unique_counts", "unique_inverse", "unique_all",
                              "nonzero", "argwhere", "flatnonzero", "where"})
_GRAPH_FRAMEWORKS = ("tensorflow", "keras", "jax", "torch")
_VARIABLE_CONSTRUCTORS = frozenset(
    {"tensorflow.Variable", "keras.Variable", "keras.backend.Variable", "keras.backend.variable",
     "torch.nn.Parameter", "torch.nn.parameter.Parameter", "keras.layers.Variable"}
)
_STATE_METHODS = frozenset({"assign", "assign_add", "assign_sub", "scatter_update", "scatter_add"})
_MUTATING_METHODS = frozenset({"append", "extend", "update", "insert", "setdefault", "add", "clear", "pop"})
_ALLOWED_SELF_METHODS = frozenset({"update_state", "reset_state", "add_loss", "add_metric"})
# Keras layers that hold no weights: built inside a loss they only wrap an op (``Multiply()([a, b])``)
_WEIGHTLESS_LAYERS = frozenset({
    "Multiply", "Add", "Subtract", "Average", "Maximum", "Minimum", "Concatenate", "Dot", "Flatten", "Reshape",
    "Permute", "RepeatVector", "Activation", "ReLU", "Softmax", "LeakyReLU", "ELU", "Identity",
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalMaxPooling1D",
    "GlobalMaxPooling2D", "GlobalMaxPooling3D", "UpSampling1D", "UpSampling2D", "UpSampling3D",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
    # a Lambda wraps a function: no weights, and a traced step builds it once (judged false or
    # debatable on every real loss we read that made one)
    "Lambda"})
_SESSION_CONSTRUCTORS = frozenset({"tensorflow.Session", "tensorflow.InteractiveSession"})
# torch.nn layers that hold weights: built inside a loss, they start from fresh (untrained)
# parameters on every call (``nn.BatchNorm1d(c)(x)``); ``nn.Flatten()``, ``nn.Sigmoid()`` hold none
_TORCH_WEIGHT_LAYERS = frozenset({
    "Linear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm", "Embedding", "EmbeddingBag",
    "LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell", "MultiheadAttention", "PReLU",
    "TransformerEncoderLayer", "TransformerDecoderLayer", "LazyLinear", "LazyConv1d", "LazyConv2d", "LazyConv3d"})


def _one_tensor(node, ctx) -> bool:
    """A tensor on the device: not a Python list (of numbers, often) nor a host copy."""
    facts = ctx.facts(node)
    return facts.is_tensor and not facts.on_host and not facts.python_list and (
        not facts.maybe_list or facts.named_tensor)


_COUNTING_REDUCTIONS = frozenset({"sum", "max", "amax", "count_nonzero"})


def _without_weights(op) -> bool:
    """``nn.BatchNorm1d(d, affine=False)``, ``nn.LayerNorm(d, elementwise_affine=False)``: a
    normalisation without parameters (Barlow Twins' cross-correlation), nothing to lose."""
    for flag in ("affine", "elementwise_affine"):
        value = op.kwargs.get(flag)
        if isinstance(value, cst.Name) and value.value == "False":
            return True
    return False


def _counted_from_a_tensor(node, ctx) -> bool:
    """A size written as a reduction of a tensor the loss was given (``mask.sum()``,
    ``counts.max() + 1``): its value lives on the device. (Sizes held in names are left alone:
    whether ``n`` is a Python int or a 0-d tensor is not written where it is used.)"""
    if isinstance(node, (cst.Tuple, cst.List)):  # zeros((B, counts.max())): a shape tuple
        return any(_counted_from_a_tensor(e.value, ctx) for e in node.elements)
    while isinstance(node, cst.BinaryOperation):
        if _counted_from_a_tensor(node.right, ctx):
            return True
        node = node.left
    if not isinstance(node, cst.Call):
        return False
    op = ctx.op(node)
    if op is None or op.name not in _COUNTING_REDUCTIONS or not op.args:
        return False
    counted = ctx.facts(op.args[0])
    return _one_tensor(op.args[0], ctx) and bool(counted.taint) and not counted.shape


def _sized_by_values(node: cst.Call, op, ctx) -> str | None:
    """``torch.unique(target)``, ``labels.unique()``, ``jnp.unique(labels)``, ``jnp.nonzero(mask)``
    (no ``size=``) of a tensor from the loss's inputs: its length is the data's. Returns the
    framework whose semantics apply ("torch" or "jax"), or None."""
    func = node.func
    method = isinstance(func, cst.Attribute) and (op is None or op.is_method)  # x.masked_select(m): a tensor's method
    if method and func.attr.value in ("unique", "unique_consecutive"):
        # ``labels.unique()``: only torch tensors have the method; numpy arrays and TF tensors neither
        return "torch" if imports_a(ctx, "torch") and _batch_array(func.value, ctx) else None
    if method and func.attr.value in _TORCH_VALUE_SIZED and torch_only(ctx):
        # ``(labels > 0).nonzero()`` in eager torch (a jax array's method: below)
        return "torch" if _batch_array(func.value, ctx) and not _made_from_host(func.value, ctx) else None
    if op is None and isinstance(func, cst.Attribute) and func.attr.value == "nonzero" \
            and not any(a.keyword is not None and a.keyword.value == "size" for a in node.args) \
            and imports_a(ctx, "jax") and not imports_a(ctx, "torch") and _batch_array(func.value, ctx):
        return "jax"  # mask.nonzero() of a jax array: as jnp.nonzero(mask)
    if op is None or not op.args or not _batch_array(op.args[0], ctx):
        return None
    head = op.namespace.split(".")[0]
    if op.name in _TORCH_VALUE_SIZED and head == "torch":
        return "torch"
    if op.name == "where" and head == "torch" and len(op.args) == 1 and not op.kwargs:
        return "torch"  # torch.where(cond): nonzero(cond, as_tuple=True)
    if head == "jax" and op.name in _JAX_VALUE_SIZED and "size" not in op.kwargs \
            and not (op.name == "where" and (len(op.args) > 1 or op.kwargs)):
        return "jax"
    return None


def _boolean_selection(node: cst.Subscript, ctx):
    """``pred[mask]``, ``d[d > 0]``, ``lkhs[~torch.isnan(target)]`` in eager torch, read (a plain
    store ``t[t == 255] = 0`` is a masked fill, sized by nothing): the mask, a boolean tensor of the
    loss's inputs on the device, or None."""
    if not torch_only(ctx) or ctx.off_the_default_path or id(node) in _plain_store_targets(ctx):
        return None  # (under an option the defaults switch off, ``ignore_index=None``: not the default path)
    selected = ctx.facts(node.value)
    if selected.python_list or selected.on_host or selected.shape or selected.mapping:
        return None
    for element in node.slice:
        if not isinstance(element.slice, cst.Index):
            continue
        mask = ctx.facts(element.slice.value)
        if (mask.boolean or _a_mask_parameter(element.slice.value, ctx)) and mask.taint \
                and not (mask.on_host or mask.python_list or mask.shape) \
                and not _made_from_host(element.slice.value, ctx):
            return element.slice.value
    return None


# a parameter named as a mask (``mask``, ``valid_mask``, ``pocket_mask``): not ``mask_ratio``, nor a
# transformer's ``attention_mask`` (integer 0/1 in Hugging Face's convention: indexing gathers)
_MASK_PARAMETER = compile_lazily(r"^(?!(?:attention|attn)_)(?:\w+_)?masks?$", re.IGNORECASE)


def _a_mask_parameter(node, ctx) -> bool:
    """``pred[mask]`` with ``mask`` a parameter of the loss named as a mask, which the loss does not
    rebind: a boolean tensor the caller passes (a float mask cannot index, an index tensor is named
    for its indices)."""
    if not isinstance(node, cst.Name) or not _MASK_PARAMETER.match(node.value):
        return False
    if node.value in ctx.loss.param_taints:
        return _a_given_tensor(node, ctx)
    if _read_from_a_given_batch(node.value, ctx):
        return True
    return not assignments_to(node.value, ctx) and _unpacked_from_a_parameter(node.value, ctx)


# a tokenizer's masks in a batch dict (``decoder_attention_mask``, ``special_tokens_mask``): integer
# 0/1 in Hugging Face's convention, so indexing with them gathers rows 0 and 1
_TOKEN_MASK_KEY = compile_lazily(r"attention|attn|token", re.IGNORECASE)


def _read_from_a_given_batch(name: str, ctx) -> bool:
    """``mask = batch["mask"]``, ``feats, mask = batch["x"], batch["valid_mask"]``: bound once,
    from an entry named as a mask of a tensor input the loss is given (a batch dict), perhaps moved
    with ``.to(device)``: a mask the caller passes (not a tokenizer's ``attention_mask`` or
    ``special_tokens_mask``)."""
    bound = []
    for node in own_nodes(ctx.loss.node):
        if isinstance(node, (cst.AugAssign, cst.AnnAssign)) and isinstance(node.target, cst.Name) \
                and node.target.value == name:
            return False
        if not isinstance(node, cst.Assign):
            continue
        for target in node.targets:
            if isinstance(target.target, cst.Name) and target.target.value == name:
                bound.append(node.value)
            elif isinstance(target.target, (cst.Tuple, cst.List)):
                names = [e.value for e in target.target.elements]
                if any(isinstance(n, cst.Name) and n.value == name for n in names):
                    values = node.value.elements if isinstance(node.value, (cst.Tuple, cst.List)) else ()
                    at = next(i for i, n in enumerate(names) if isinstance(n, cst.Name) and n.value == name)
                    bound.append(values[at].value if len(values) == len(names) else None)
    if len(bound) != 1 or bound[0] is None:
        return False
    value = bound[0]
    while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) \
            and value.func.attr.value in ("to", "cuda", "bool") \
            and not any("float" in code_of(a.value) or "int" in code_of(a.value) for a in value.args):
        value = value.func.value  # batch["mask"].to(device), .cuda(), .bool(): the same mask on the device
    if isinstance(value, cst.Subscript) and len(value.slice) == 1 and isinstance(value.slice[0].slice, cst.Index) \
            and isinstance(value.slice[0].slice.value, cst.SimpleString):
        key = value.slice[0].slice.value.evaluated_value
        return isinstance(key, str) and bool(_MASK_PARAMETER.match(key)) and not _TOKEN_MASK_KEY.search(key) \
            and _a_given_tensor(value.value, ctx)
    return False


def _unpacked_from_a_parameter(name: str, ctx) -> bool:
    """``for mask, logits in per_source_outputs:`` with ``per_source_outputs`` a tensor parameter of
    the loss: the mask is one the caller passes, paired with its outputs (as a mask parameter)."""
    for node in own_nodes(ctx.loss.node):
        if isinstance(node, (cst.For, cst.CompFor)) and isinstance(node.target, (cst.Tuple, cst.List)) \
                and any(isinstance(e.value, cst.Name) and e.value.value == name for e in node.target.elements):
            iterable = node.iter
            # for mask, logits in pairs; in zip(masks, logits); for i, mask in enumerate(masks)
            sources = [a.value for a in iterable.args] if isinstance(iterable, cst.Call) \
                and terminal_name(iterable.func) in ("zip", "enumerate") else [iterable]
            return bool(sources) and all(_a_given_tensor(source, ctx) for source in sources)
    return False


def _a_given_tensor(node, ctx) -> bool:
    return isinstance(node, cst.Name) and node.value in ctx.loss.param_taints \
        and node.value not in ctx.loss.host_params and not assignments_to(node.value, ctx)


_FROM_HOST = frozenset({"torch.as_tensor", "torch.from_numpy", "torch.tensor", "torch.BoolTensor"})


# torch factories that make a table on the CPU unless given ``device=``
_HOST_TABLE_MAKERS = frozenset({"eye", "arange", "linspace", "ones", "zeros", "tensor", "as_tensor", "FloatTensor",
                                "LongTensor", "Tensor"})


def _host_table_lookup(node: cst.Subscript, ctx) -> bool:
    """``torch.eye(C)[labels]`` in eager torch: a table a torch factory made without ``device=``
    (so on the CPU), indexed by a tensor of the batch (not a number, not a copy already on the host).

        >>> from keras_bsguard.lint.api import lint_source
        >>> src = ("import torch\\n"
        ...        "def dice_loss(logits, true):\\n"
        ...        "    onehot = torch.eye(logits.shape[1])[true]\\n"
        ...        "    return 1 - (logits.softmax(1) * onehot.permute(0, 3, 1, 2)).mean()\\n")
        >>> [f.code for f in lint_source(src)]
        ['BSG701']
    """
    # (not a store ``table[i] = v``; a boolean mask is a selection, reported as one)
    return torch_only(ctx) and id(node) not in _plain_store_targets(ctx) \
        and _host_table_by_device_index(node, ctx) and not ctx.facts(node.slice[0].slice.value).boolean


def _made_from_host(node, ctx) -> bool:
    """``torch.as_tensor(labels == i)``, ``torch.from_numpy(keep)``: a tensor made from host data
    (numpy labels), on the CPU: selecting with it waits for no device."""
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
            and node.func.attr.value in ("bool", "long", "squeeze", "view", "reshape", "flatten"):
        node = node.func.value  # torch.from_numpy(keep).bool()
    op = ctx.op(node) if isinstance(node, cst.Call) else None
    return op is not None and op.qualified in _FROM_HOST and not any(
        a.keyword is not None and a.keyword.value == "device" for a in node.args)


def _plain_store_targets(ctx) -> set:
    """The ids of the subscripts the loss's ``x[i] = v`` statements write (not ``x[i] += v``, which reads)."""
    cache = ctx.__dict__.setdefault("_plain_store_targets", {})
    key = id(ctx.loss.node)
    if key not in cache:
        cache[key] = {id(target.target) for node in all_nodes(ctx.loss.node) if isinstance(node, cst.Assign)
                      for target in node.targets if isinstance(target.target, cst.Subscript)}
    return cache[key]


def _batch_array(node, ctx) -> bool:
    """A tensor of the loss's inputs: a parameter that might be a Python list counts (``mask``),
    since a list has neither ``unique`` nor ``nonzero`` and the array ops take it as one array."""
    given = ctx.facts(node)
    return bool(given.taint) and (given.is_tensor or given.maybe_list) and not (given.on_host or given.python_list)


def _host_array_by_device_index(node, ctx) -> bool:
    """``mask[b, h, w, 0] = 1`` with ``mask = np.zeros(...)`` and ``b, h, w`` columns of a target
    tensor: numpy reads each index tensor's values on the host."""
    if not isinstance(node, cst.Subscript) or not isinstance(node.value, cst.Name):
        return False
    table = ctx.facts(node.value)
    if not table.on_host or table.taint or table.python_list or table.shape or table.made_tensor:
        return False
    indices = [element.slice.value for element in node.slice if isinstance(element.slice, cst.Index)]
    return any(_one_tensor(index, ctx) and ctx.facts(index).taint for index in indices)


def _host_table_by_device_index(node, ctx) -> bool:
    """``torch.eye(n)[targets]`` (then ``.cuda()``): a tensor the loss made on the host, indexed
    by a tensor of the batch, which lives on the device."""
    if not isinstance(node, cst.Subscript) or len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return False
    table = ctx.facts(node.value)
    index = node.slice[0].slice.value
    if not (_one_tensor(index, ctx) and ctx.facts(index).taint) or _made_from_host(index, ctx):
        return False
    if table.on_host and table.made_tensor:
        return True
    # torch.eye(self.classes): a torch factory given no device= makes its table on the CPU
    op = ctx.op(node.value) if isinstance(node.value, cst.Call) else None
    return op is not None and op.namespace == "torch" and op.name in _HOST_TABLE_MAKERS \
        and not any(a.keyword is not None and a.keyword.value == "device" for a in node.value.args)


def _only_on_the_cpu(node, ctx) -> bool:
    """The ``.cpu()`` sits in the ``else`` of a conditional expression testing that the tensor is on
    the GPU (``x.is_cuda``, ``x.device.type == "cuda"``): it runs only for a tensor already on the
    host. (Statements: ``ctx.ancestors`` holds expressions only.)"""
    for ancestor in reversed(ctx.ancestors):
        if isinstance(ancestor, cst.IfExp):
            text = code_of(ancestor.test, 200)
            if ("is_cuda" in text or "cuda" in text and "device" in text) and contains(ancestor.orelse, node):
                return True
    return False


def _formats_a_tensor(value, ctx, computed: bool = False) -> bool:
    """``f"max: {labels.max()}"``, ``"iou: {}".format(iou)``, ``"iou: %f" % iou``: a string made
    from a tensor's value (shapes and dtypes are Python values). ``computed``: only a value the loss
    computed counts, not a parameter as it came in (``f"{tag}_loss"``: a name, most likely)."""
    if isinstance(value, cst.ConcatenatedString):  # f"level {i}: " f"loss={loss}"
        return _formats_a_tensor(value.left, ctx, computed) or _formats_a_tensor(value.right, ctx, computed)
    if isinstance(value, cst.FormattedString):
        parts = [part.expression for part in value.parts if isinstance(part, cst.FormattedStringExpression)]
    elif isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and value.func.attr.value == "format" \
            and isinstance(value.func.value, (cst.SimpleString, cst.ConcatenatedString)):
        parts = [a.value for a in value.args]
    elif isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.Modulo) \
            and isinstance(value.left, (cst.SimpleString, cst.ConcatenatedString)):
        right = value.right
        parts = [e.value for e in right.elements] if isinstance(right, cst.Tuple) else [right]
    else:
        return False
    return any(_shown_tensor(p, ctx) and not (computed and _parameter_as_passed(p, ctx)) for p in parts)


def _parameter_as_passed(node, ctx) -> bool:
    """A parameter of the loss that the loss never rebinds."""
    return isinstance(node, cst.Name) and node.value in ctx.loss.param_taints \
        and not assignments_to(node.value, ctx)


_NUMERIC_SPEC = compile_lazily(r"(\{[^{}]*:[^{}]*[eEfFgGd%]\}|%[-+ #0]*\d*(\.\d+)?[eEfFgGd])")


def _numeric_format(value) -> bool:
    """A string built with a number format (``{:.3f}``, ``{x:+.2e}``, ``%.4f``): what it formats is
    read as a number, which for a tensor means its value."""
    if isinstance(value, cst.FormattedString):
        return any(isinstance(part, cst.FormattedStringExpression) and part.format_spec
                   and _NUMERIC_SPEC.search("{:" + "".join(getattr(p, "value", "") for p in part.format_spec) + "}")
                   for part in value.parts)
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute):
        value = value.func.value
    elif isinstance(value, cst.BinaryOperation):
        value = value.left
    return isinstance(value, cst.SimpleString) and _NUMERIC_SPEC.search(value.value) is not None


def _shown_tensor(value, ctx) -> bool:
    """A tensor whose value a print or a string shows: a tensor of the loss's inputs, or what a
    library call made of them that the loss then returns as it is (``dist, _ = chamfer_distance(x,
    y)`` ... ``return dist``: the loss value, so a tensor)."""
    facts = ctx.facts(value)
    if facts.is_tensor or _holds_tensors(facts) or _a_dict_of_tensors(value, ctx):
        return True
    if ctx.loss.kind != "helper" and isinstance(value, (cst.Name, cst.Attribute)) and PRED in facts.taint \
            and facts.opaque and not (facts.shape or facts.python_list or facts.on_host) \
            and any(imports_a(ctx, head) for head in ("jax", "tensorflow", "keras")) and not torch_only(ctx):
        # print("next_q", next_q) of q_network.apply(...) in a JAX loss: what the networks made of
        # the batch, traced like everything else there (a symbolic array printed once)
        return True
    if not (isinstance(value, cst.Name) and facts.taint and facts.opaque) or ctx.loss.kind == "helper":
        return False
    for ret in own_nodes(ctx.loss.node):
        if isinstance(ret, cst.Return) and ret.value is not None:
            returned = ret.value.elements[0].value if isinstance(ret.value, cst.Tuple) and ret.value.elements \
                else ret.value
            if isinstance(returned, cst.Name) and returned.value == value.value:
                return True
    return False


def _holds_tensors(facts) -> bool:
    """A Python list, tuple or dict that holds tensors of the loss (``[kl, rec]``, a dict filled
    with ``terms["l1"] = ...``): printing it renders each tensor's values."""
    if not facts.python_list or facts.on_host or facts.shape:
        return False
    if facts.elements is not None:
        return any(element.is_tensor for element in facts.elements)
    if facts.grown_list:  # losses.append(rec): only entries of the loss's inputs grow such a list
        return replace(facts, python_list=False, grown_list=False).is_tensor
    return facts.mapping and replace(facts, python_list=False, mapping=False).is_tensor


def _a_dict_of_tensors(value, ctx) -> bool:
    """``terms = {"rec": rec, "kl": kl}`` (bound once in the loss, as a display or ``dict(...)``)
    whose entries include a tensor of the loss: printing ``terms`` renders their values."""
    if not isinstance(value, cst.Name):
        return False
    bound = [a.value for a in assignments_to(value.value, ctx)]
    if len(bound) != 1:
        return False
    if isinstance(bound[0], cst.Dict):
        entries = [e.value for e in bound[0].elements if isinstance(e, cst.DictElement)]
    elif isinstance(bound[0], cst.Call) and isinstance(bound[0].func, cst.Name) and bound[0].func.value == "dict":
        entries = [a.value for a in bound[0].args if a.keyword is not None]
    else:
        return False
    return any(ctx.facts(entry).is_tensor for entry in entries)


_EXCEPTION_NAME = compile_lazily(r"(Error|Exception|Warning)$")

_LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "critical", "exception", "log"})


def _logging_call(node: cst.Call) -> bool:
    """``logger.info(...)``, ``logging.debug(...)``, ``self._log.warning(...)``: a logger's method."""
    func = node.func
    if not isinstance(func, cst.Attribute) or func.attr.value not in _LOG_METHODS:
        return False
    owner = func.value.attr.value if isinstance(func.value, cst.Attribute) else \
        func.value.value if isinstance(func.value, cst.Name) else ""
    return "log" in owner.lower()


class HostSync(Rule):
    """A host round-trip inside a loss: ``.numpy()``, ``.item()``, ``float(t)``, ``print(t)``,
    ``py_function``, Python's ``min``/``max`` of a tensor (``max(mask.sum(), 1)``), a Python
    ``if``/``while``/``assert`` on a tensor, a new torch/JAX tensor sized by a reduction of
    one (``torch.eye(mask.sum())``: the size is read on the host; TF takes it in the graph), or
    a value whose size the batch's values set (``torch.unique(labels)``, ``jnp.nonzero(mask)``
    without ``size=``: torch syncs to learn it, ``jax.jit`` cannot trace it).

    **Why it hurts training.** Keras compiles the train step (``tf.function``, ``jax.jit``,
    ``torch.compile`` with ``jit_compile``). Inside it a tensor has no value yet: ``.numpy()``
    and ``float(t)`` fail (``ConcretizationTypeError`` on JAX, an ``OperatorNotAllowedInGraph``
    or ``AttributeError`` on TF) or force the step back to eager, Python ``if`` on a tensor is
    either an error or evaluated once at trace time, and ``print`` shows a symbolic tensor once.
    Where it does run (eager torch), it blocks until the device finishes, every step.

    **Instead** keep the computation on device: ``where``/``cond`` instead of ``if``,
    ``tf.print``/``jax.debug.print`` instead of ``print``, and log values through metrics.

    Before::

        def loss(y_true, y_pred):
            err = tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)
            if tf.reduce_max(err) > 10.0:
                print("large error", err.numpy())
            return err

    After::

        def loss(y_true, y_pred):
            err = tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)
            tf.print("max error", tf.reduce_max(err))
            return err
    """

    code = "BSG701"
    name = "host-sync"
    severity = "error"
    summary = "host syncs in the loss: .numpy(), .item(), float(t), print(t), py_function, Python if on a tensor"
    node_types = (cst.Call, cst.IfExp, cst.Subscript)
    statement_types = (cst.If, cst.While, cst.Assert, cst.Assign)

    def check_node(self, node, ctx) -> None:
        if isinstance(node, cst.Subscript):
            mask = _boolean_selection(node, ctx)
            if mask is not None:
                ctx.report(self, node, f"`{code_of(node)}` selects by a boolean mask: its size is set by the batch's "
                                       "values, so torch waits for the device to learn it (a sync every call, a "
                                       "graph break under torch.compile); weight the terms by the mask instead "
                                       "(`(x * mask).sum() / mask.sum().clamp(min=1)`)")
            elif _host_table_lookup(node, ctx):
                ctx.report(self, node, f"`{code_of(node)}` looks the batch's values up in a table made on the host "
                                       "(no device=): on a GPU they are copied to the host and the rows back on "
                                       "every call (recent torch refuses indices on another device); make it with "
                                       "device=... or use F.one_hot")
            return
        if isinstance(node, cst.IfExp):
            if not _autograph_function(ctx) and _is_tensor_condition(node.test, ctx):
                # (under ``@tf.function`` AutoGraph turns a tensor ``a if c else b`` into tf.cond)
                ctx.report(self, node.test, f"conditional expression on a tensor (`{code_of(node.test)}`): "
                                            "needs its value on the host; use where")
            return
        _note_in_place_change(node, ctx)
        if _logging_call(node) and any(_formats_a_tensor(a.value, ctx) for a in node.args):
            # formatted before the call, whatever the log level (a tensor passed as a lazy ``%s``
            # argument is formatted only when the record is emitted)
            self._report_print(node, ctx)
            return
        if self._passes_a_formatted_tensor(node, ctx):
            return
        op = ctx.op(node)
        framework = _sized_by_values(node, op, ctx)
        if framework == "torch" and ctx.off_the_default_path and terminal_name(node.func) in _TORCH_SELECTIONS:
            return  # a sparse selection under an option the defaults switch off: not the default path
        if framework == "torch":
            ctx.report(self, node, f"`{code_of(node)}` has a size set by the batch's values: torch waits for the "
                                   "device to learn it (a sync every call, a graph break under torch.compile); "
                                   "keep fixed sizes (one_hot or bincount with minlength) and mask")
            return
        if framework == "jax":
            ctx.report(self, node, f"`{code_of(node)}` has a size set by the batch's values: under jax.jit it "
                                   "cannot be traced (ConcretizationTypeError); pass size= (and fill_value) or use "
                                   "a mask")
            return
        if op is None:
            return
        if op.is_method and op.name in ("cuda", "to") and op.args and _host_table_by_device_index(op.args[0], ctx):
            ctx.report(self, op.args[0], f"`{code_of(op.args[0])}` indexes a tensor made on the host with the "
                                         "batch's device tensor, then moves the rows back: a device round trip "
                                         "(and sync) every step; make it on the device (device=...) or use one_hot")
            return
        # x.to("cpu") copies to the host as x.cpu() does
        syncs = op.is_method and (op.name in _SYNC_METHODS or copies_to_the_cpu(op))
        if syncs and op.args and ctx.facts(op.args[0]).on_host:
            return  # torch.arange(2, len(x.shape)).tolist(), x.cpu().numpy(): no (further) device sync
        if syncs and op.name in ("cpu", "to") and _only_on_the_cpu(node, ctx):
            return  # ``x.cuda() if x.is_cuda else x.cpu()``: .cpu() of a CPU tensor copies nothing
        if syncs:
            message = f"`{code_of(node)}` copies the tensor to the host: fails or syncs inside a compiled step"
            receiver = op.args[0] if op.args else None
            if receiver is not None and ctx.facts(receiver).shape:
                # tf.shape(x)[0].numpy(): a shape the host knows (no device sync), but no value to
                # read once the loss is traced; every such read in the loss is one cause
                ctx.report_once(self, node, key=f"{self.code}/shape-read", more="reads of shapes",
                                message=f"`{code_of(node)}` reads a dynamic shape into Python: fails once the loss "
                                        "is compiled (tf.function, Keras fit); use the static `x.shape` or keep it "
                                        "a tensor")
            elif isinstance(receiver, cst.Name) and receiver.value in ctx.evaluator.env:
                # ``if loss.item() > 1: print(loss.item())``: the same value, read again before it
                # is rebound, is one sync (the first); the others are places of it
                binding = id(ctx.evaluator.env[receiver.value])
                version = ctx.__dict__.get("_in_place_changes", {}).get(receiver.value, 0)
                ctx.report_once(self, node, key=f"{self.code}/read/{receiver.value}/{op.name}/{binding}/{version}",
                                more="reads of the same value", message=message)
            elif isinstance(receiver, cst.Subscript) and isinstance(receiver.value, cst.Name) \
                    and receiver.value.value in ctx.evaluator.env:
                # ``np.where(target[b].cpu() == 1)`` then ``np.where(target[b].cpu() == 0)``: the same
                # rows copied again, one cause (the first copy), the others places of it
                base = receiver.value.value
                # the same rows only while the base and every index name keep their bindings
                bindings = tuple(id(ctx.evaluator.env.get(n.value)) for n in own_nodes(receiver) if isinstance(n, cst.Name))
                version = ctx.__dict__.get("_in_place_changes", {}).get(base, 0)
                ctx.report_once(self, node, key=f"{self.code}/read/{code_of(receiver)}/{op.name}/{bindings}/{version}",
                                more="reads of the same value", message=message)
            else:
                ctx.report(self, node, message)
        elif op.qualified in _DEBUG_CALLBACKS:
            if any(ctx.facts(a).is_tensor for a in (*op.args, *op.kwargs.values())):
                ctx.report(self, node, f"`{callee(node)}` sends tensors to the host on every step (a host callback "
                                       "inside the compiled step): a debugging aid, remove it from the training loss")
        elif op.qualified in _SYNC_FUNCTIONS:
            if op.namespace != "numpy" or (_uses_a_graph_framework(ctx) and any(ctx.facts(a).is_tensor for a in op.args)):
                ctx.report(self, node, f"`{callee(node)}` leaves the compiled graph for Python on every step")
        elif op.namespace.split(".")[0] in _HOST_LIBRARIES and any(_prediction_tensor(a, ctx) for a in op.args):
            ctx.report(self, node, f"`{callee(node)}` ({op.namespace.split('.')[0]}) computes on the host: the "
                                   "tensors are copied out on every step, and nothing flows back to the gradient")
        elif op.namespace == "math" and op.args and ctx.facts(op.args[0]).is_tensor \
                and PRED in ctx.facts(op.args[0]).taint and not ctx.facts(op.args[0]).on_host:
            # math.isnan(loss), math.sqrt(var): the tensor becomes a Python float first (not the
            # targets' side: a data sample's ``valid_ratio`` is as often a Python number)
            ctx.report(self, node, f"`{code_of(node)}` converts the tensor to a Python float: needs its value on "
                                   "the host (fails under jit, syncs in eager mode); use the framework's op")
        elif op.namespace == "numpy" and op.name not in _NUMPY_SHAPE_READS and not torch_only(ctx) \
                and _uses_a_graph_framework(ctx) and not _numpy_backend(ctx) \
                and any(_one_tensor(a, ctx) and ctx.facts(a).taint for a in op.args):
            if ctx.already_reported_within(self.code):
                return  # np.sum(p * np.log(p / q)): the outer numpy call's read is the one reported
            # np.max(y_true) in a Keras/TF/JAX loss: the targets' tensor read into numpy (its
            # result is then a host value, so a Python test on it is no further sync). Eager
            # PyTorch's numpy calls take CPU tensors (labels handed over as arrays), or fail loudly
            ctx.report(self, node, f"`{code_of(node)}` reads a tensor into numpy: fails on a symbolic tensor when "
                                   "traced (or syncs every step eagerly); use the framework's op")
        elif op.namespace == "builtins" and op.name in _CONVERSIONS and op.args:
            if ctx.facts(op.args[0]).is_tensor:
                ctx.report(self, node, f"`{code_of(node)}` needs the tensor's value on the host: "
                                       "fails under jit, syncs in eager mode")
        elif op.namespace == "builtins" and op.name == "range" and any(_one_tensor(a, ctx) for a in op.args) \
                and not _autograph_loop(ctx):
            ctx.report(self, node, f"`{code_of(node)}` reads a tensor's value on the host to count the loop: "
                                   "fails under jit, syncs in eager mode")
        elif op.name in _SIZED_MAKERS and not op.is_method and op.namespace.split(".")[0] in ("torch", "jax") \
                and any(_counted_from_a_tensor(a, ctx) for a in op.args[:_SIZE_ARGUMENTS.get(op.name, len(op.args))]):
            # torch.eye(has_text.sum()): the size is a tensor's value, read on the host (a sync in
            # eager torch, a concretisation error under jax.jit); TF takes a dynamic size in the graph
            ctx.report(self, node, f"`{code_of(node)}` sizes a new tensor by a tensor's value: it is read on "
                                   "the host (fails under jit, syncs in eager mode); keep a fixed shape and mask")
        elif op.namespace == "torch" and op.name in _TORCH_BOOL_TESTS \
                and any(_one_tensor(a, ctx) and ctx.facts(a).taint for a in op.args):
            # ``if torch.equal(zero, vx) or torch.equal(zero, vy):``: one test, one finding
            root = ctx.ancestors[0] if ctx.ancestors else node
            ctx.report_once(self, node, key=f"{self.code}/bool-test/{id(root)}", more="whole-tensor tests",
                            message=f"`{code_of(node)}` returns a Python bool: it reads the tensors' values on "
                                    "the host (a device sync on every call); compare on the device and mask instead")
        elif op.namespace == "builtins" and op.name in ("min", "max") and op.args and not op.kwargs \
                and any(_one_tensor(a, ctx) for a in op.args):
            ctx.report(self, node, f"`{code_of(node)}` compares tensor values in Python: each comparison needs them "
                                   f"on the host (fails under jit, syncs in eager mode); use the framework's "
                                   f"{op.name} or {'maximum' if op.name == 'max' else 'minimum'}")
        elif op.namespace == "builtins" and op.name == "print":
            if any(_shown_tensor(a, ctx) or _formats_a_tensor(a, ctx) for a in op.args):
                self._report_print(node, ctx)

    def _passes_a_formatted_tensor(self, node, ctx) -> bool:
        """``log_line("bce {:.3f}".format(bce), path)``, ``bar.set_postfix_str(f"{loss:.4f}")``: a
        tensor formatted as a number (which reads its value) in a string handed to any call but
        ``print`` (reported as a print), a warning or an exception (a failure path, not every step)."""
        name = node.func.value if isinstance(node.func, cst.Name) else \
            node.func.attr.value if isinstance(node.func, cst.Attribute) else None
        if name is None or name in ("print", "warn") or _EXCEPTION_NAME.search(name):
            return False
        # eager PyTorch renders a tensor's values in any f-string (``f"loss={loss}"``): a read
        formatted = next((a.value for a in node.args if (_numeric_format(a.value) or (
            torch_only(ctx) and isinstance(a.value, (cst.FormattedString, cst.ConcatenatedString))))
            and _formats_a_tensor(a.value, ctx, computed=True)), None)
        if formatted is None:
            return False
        if torch_only(ctx):
            message = (f"`{code_of(formatted)}` formats a tensor's value into a string: it is copied to the host "
                       "on every call (a device sync): log it every N steps outside the loss")
        else:
            message = (f"`{code_of(formatted)}` formats a tensor as a number: fails on a symbolic tensor when "
                       "traced (or syncs every step eagerly): log it through metrics or tf.print")
        ctx.report(self, formatted, message)
        return True

    def _report_print(self, node, ctx) -> None:
        """``print(t)``, ``logger.info("{}".format(t))``: what printing a tensor means on the backend."""
        test = ctx.__dict__.get("_under_a_tensor_test", {}).get(id(node))
        if test is not None:
            ctx.relate_to_report(self.code, test, node)  # printed when the tensor test above it holds
            return
        if torch_only(ctx):  # eager PyTorch: it prints, after waiting for the device
            ctx.report(self, node, f"`{code_of(node)}` copies a tensor's value to the host on every call "
                                   "(a device sync): drop it, or print every N steps outside the loss")
        else:
            ctx.report(self, node, f"`{code_of(node)}` prints a symbolic tensor once at trace time "
                                   "(or syncs every step eagerly): use tf.print / jax.debug.print while debugging")

    def check_statement(self, statement, ctx) -> None:
        if isinstance(statement, cst.Assign):
            for target in statement.targets:
                if isinstance(target.target, cst.Subscript) and isinstance(target.target.value, cst.Name):
                    # ``target[0] = target[0] * 2``: the rows under the name change; a later read is another copy
                    changes = ctx.__dict__.setdefault("_in_place_changes", {})
                    changes[target.target.value.value] = changes.get(target.target.value.value, 0) + 1
                if _host_array_by_device_index(target.target, ctx):
                    ctx.report(self, target.target, f"`{code_of(target.target)}` writes into a host (numpy) array at "
                                                    "positions held in the batch's tensors: they are copied to the "
                                                    "host every step (fails under jit); scatter on the device instead")
            return
        test = statement.test
        if _autograph_function(ctx):
            return  # under ``@tf.function`` AutoGraph turns a tensor ``if``/``while``/``assert`` into graph ops
        if _is_tensor_condition(test, ctx):
            keyword = {cst.If: "if", cst.While: "while", cst.Assert: "assert"}[type(statement)]
            if torch_only(ctx):  # eager PyTorch: it runs, but waits for the device every call
                advice = "a device sync on every call; use torch.where or masks instead"
            else:
                advice = "use where/cond or tf.debugging asserts"
            ctx.report(self, test, f"Python `{keyword}` on a tensor (`{code_of(test)}`): needs the value on the host; "
                                   f"{advice}")
            if isinstance(statement, cst.If):
                # ``if sims.max() > 1: print(sims.max())``: the test is the sync of every call; what
                # the branch prints runs only when the test holds: a further place of that finding
                ctx.__dict__.setdefault("_under_a_tensor_test", {}).update(
                    (id(node), test) for node in own_nodes(statement.body))


# libraries that compute on host arrays only: a tensor passed to them is copied out of the step
_HOST_LIBRARIES = frozenset({"sklearn", "scipy", "pandas", "cv2", "skimage", "PIL"})


def _prediction_tensor(node, ctx) -> bool:
    """A tensor that carries the prediction's gradient (not the target, not a detached copy)."""
    facts = ctx.facts(node)
    return facts.is_tensor and facts.has_grad and PRED in facts.taint


def _an_assigner(owner, call: cst.Call) -> bool:
    """``self.bbox_assigner.assign(preds, gts, metas)``: a label assigner computing targets, not a
    variable's ``assign(value)`` (which takes one value)."""
    name = owner.attr.value if isinstance(owner, cst.Attribute) else owner.value if isinstance(owner, cst.Name) else ""
    positional = [a for a in call.args if a.keyword is None]
    return name.lower().endswith(("assigner", "matcher", "sampler")) or len(positional) >= 2 or any(
        a.keyword is not None and a.keyword.value not in ("value", "use_locking", "name", "read_value")
        for a in call.args)


def _note_in_place_change(node: cst.Call, ctx) -> None:
    """``loss.add_(1)``, ``loss.clamp_(0, 1)``: the value under the name changes without a rebinding;
    a later host read of it is another sync (counted per name, see the repeated-read key)."""
    func = node.func
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.attr.value.endswith("_") \
            and not func.attr.value.startswith("_"):
        changes = ctx.__dict__.setdefault("_in_place_changes", {})
        changes[func.value.value] = changes.get(func.value.value, 0) + 1


_TF_FUNCTION = ("tensorflow.function", "tensorflow.compat.v1.function")


def _tensorflow_graph_state(ctx) -> bool:
    """The file imports TensorFlow and not JAX: the loss object's own ``tf.Variable`` (a dual
    variable, a running statistic) updated with ``assign`` is a graph op that runs on every step
    of a ``tf.function`` (only a JAX trace drops it)."""
    heads = {qualified.split(".")[0] for qualified in ctx.index.imports.aliases.values()}
    return "tensorflow" in heads and "jax" not in heads


def _autograph_function(ctx) -> bool:
    """The loss is decorated with ``@tf.function`` (AutoGraph on, as by default): its Python
    control flow on tensors becomes ``tf.cond``/``tf.while_loop``/``tf.Assert``, with no host read."""
    for decorator in getattr(ctx.loss.node, "decorators", ()):
        expression = decorator.decorator
        call = expression if isinstance(expression, cst.Call) else None
        target = call.func if call is not None else expression
        parts = dotted_parts(target)
        if not parts or ctx.index.imports.qualify(parts) not in _TF_FUNCTION:
            continue
        off = call is not None and any(
            arg.keyword is not None and arg.keyword.value == "autograph"
            and isinstance(arg.value, cst.Name) and arg.value.value == "False" for arg in call.args)
        return not off
    return False


def _autograph_loop(ctx) -> bool:
    """TensorFlow code (no torch): inside ``tf.function`` AutoGraph turns ``for i in range(t)`` over a
    tensor into a ``tf.while_loop``, with no host read."""
    return not torch_only(ctx) and loss_calls_any(ctx, "tensorflow", lambda op: op.namespace.startswith("tensorflow"))


def _numpy_backend(ctx) -> bool:
    """A module of a numpy backend (Keras's ``backend/numpy``): its tensors are numpy arrays."""
    return any(".backend.numpy" in qualified for qualified in ctx.index.imports.aliases.values())


def _uses_a_graph_framework(ctx) -> bool:
    """numpy conversions only leave a graph in a loss that builds one (not in numpy-only code); a
    helper written in numpy reads the tensors of the loss that calls it (``kl(p, q)`` doing
    ``np.log(p / q)`` on the softmax outputs its TF caller hands it)."""
    if loss_calls_any(ctx, "graph-framework", _a_graph_op):
        return True
    cache = ctx.__dict__.setdefault("_callers_use_a_graph_framework", {})
    if id(ctx.loss.node) not in cache:
        cache[id(ctx.loss.node)] = _a_caller_calls_a_graph_op(ctx)
    return cache[id(ctx.loss.node)]


def _a_caller_calls_a_graph_op(ctx) -> bool:
    """Whether a loss up the helper's chain of first callers (four levels at most) calls the framework."""
    caller, seen = ctx.loss.caller if ctx.loss.kind == "helper" else None, 0
    while caller is not None and seen < 4:
        if any(isinstance(node, cst.Call) and (op := ctx.op(node)) is not None and _a_graph_op(op)
               for node in all_nodes(caller.node)):
            return True
        caller, seen = caller.caller if caller.kind == "helper" else None, seen + 1
    return False


def _a_graph_op(op) -> bool:
    return op.namespace.split(".")[0] in _GRAPH_FRAMEWORKS \
        and op.name not in ("epsilon", "floatx", "image_data_format", "backend")


def _is_tensor_condition(test, ctx) -> bool:
    if isinstance(test, cst.BooleanOperation):
        # ``a == "x" and d.get("n") and name not in seen``: each operand is its own test
        return _is_tensor_condition(test.left, ctx) or _is_tensor_condition(test.right, ctx)
    if isinstance(test, cst.Call) and isinstance(test.func, cst.Attribute) and test.func.attr.value == "get":
        return False  # ``options.get("num_samples")``: a presence test of a lookup, like a bare name
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not) and isinstance(test.expression, cst.Name):
        return _is_tensor_condition(test.expression, ctx)  # ``if not mask:``: the bare name's presence test
    if isinstance(test, cst.Comparison) and any(_an_enum_member(c.comparator) for c in test.comparisons) \
            and not any(_one_tensor(part, ctx) for part in (test.left, *(c.comparator for c in test.comparisons))
                        if not _an_enum_member(part)):
        return False  # ``stage == sb.Stage.TRAIN`` of a stage argument: a Python comparison
    if _reduces_an_annotated_tensor(test, ctx):
        return True
    facts = ctx.facts(test)
    if not facts.is_tensor or facts.on_host:
        return False
    if isinstance(test, cst.Comparison):
        tensors = [ctx.facts(part) for part in (test.left, *(c.comparator for c in test.comparisons))]
        tensors = [part for part in tensors if part.is_tensor]
        if tensors and all(part.on_host for part in tensors):
            return False  # ``instance == 255`` of a value of ``np.unique(labels)``: compared on the host
    if isinstance(test, cst.Name):
        # A bare name (`if mask:`) is usually an is-not-None check: too ambiguous to report,
        # unless the loss itself bound it to a reduction or a comparison (`n = matches.sum()`)
        return not facts.on_host and _bound_to_reductions(test.value, ctx)
    return isinstance(test, (cst.Comparison, cst.Call, cst.BooleanOperation, cst.UnaryOperation))


_TENSOR_ANNOTATION_TEXT = compile_lazily(r"\b(Tensor|Array|KerasTensor)\b")


def _reduces_an_annotated_tensor(test, ctx) -> bool:
    """``not events.any()``, ``mask.sum() == 0``, ``torch.all(valid)`` of a parameter annotated as a
    tensor (``events: torch.Tensor``), whatever role its name gives it, and a framework module's
    reduction of anything (``torch.sum(clean_idx) == 0``): a 0-d tensor tested in Python."""
    while isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        test = test.expression
    if isinstance(test, cst.Comparison):
        test = test.left
    if not isinstance(test, cst.Call) or not isinstance(test.func, cst.Attribute) \
            or test.func.attr.value not in _TENSOR_REDUCTIONS:
        return False
    op = ctx.op(test)
    if op is not None and not op.is_method and op.namespace.split(".")[0] in ("torch", "tensorflow", "jax", "keras") \
            and op.args and _device_argument(op.args[0], ctx):
        # torch.sum(clean_idx) == 0 of a parameter the loss says nothing about: a framework's
        # reduction returns a tensor (what the loss made on the host itself is known as such)
        return True
    receiver = test.func.value
    if isinstance(receiver, cst.Name) and receiver.value in ARRAY_MODULES and test.args:
        receiver = test.args[0].value  # torch.any(events)
    if not isinstance(receiver, cst.Name) or not isinstance(ctx.loss.node, cst.FunctionDef):
        return False
    params = ctx.loss.node.params
    for param in (*params.posonly_params, *params.params, *params.kwonly_params):
        if param.name.value == receiver.value and param.annotation is not None:
            text = cst.Module([]).code_for_node(param.annotation.annotation)
            return bool(_TENSOR_ANNOTATION_TEXT.search(text)) and not re.search(
                r"(?i)list|tuple|dict|sequence|iterable|ndarray", text)
    return False


def _device_argument(node, ctx) -> bool:
    """What a reduction is given is (or is computed from) the loss's tensors or a parameter the
    loss says nothing about, not a host copy or a tensor it built from Python numbers."""
    facts = ctx.facts(node)
    if facts.on_host:
        return False
    if _held_parameter(node, ctx):
        return True  # assert torch.all(torch.abs(self.weight.norm(dim=0) - 1) < tol)
    if facts.shape or facts.literal is not None:
        return False
    if facts.is_tensor:
        return True
    return any(isinstance(n, cst.Name) and n.value in ctx.loss.param_taints and n.value not in ctx.loss.host_params
               and not ctx.facts(n).on_host and ctx.facts(n).literal is None and not ctx.facts(n).shape
               for n in own_nodes(node))


def _held_parameter(node, ctx) -> bool:
    """The expression reads a ``self.<attr>`` that ``__init__`` made an ``nn.Parameter`` (the
    module's weights: on the device with the model), directly or through a local bound to it."""
    info = ctx.loss.info
    if info is None or info.class_info is None:
        return False
    built = ctx.index.init_calls(info.class_info)
    names = {n.value for n in own_nodes(node) if isinstance(n, cst.Name)}
    reads = [n for n in own_nodes(node) if isinstance(n, cst.Attribute) and isinstance(n.value, cst.Name)
             and n.value.value == "self"]
    for assign in own_nodes(ctx.loss.node):  # w = self.weight.pow(2).sum(0): a local holding it
        if isinstance(assign, cst.Assign) and any(isinstance(t.target, cst.Name) and t.target.value in names
                                                  for t in assign.targets):
            reads += [n for n in own_nodes(assign.value) if isinstance(n, cst.Attribute)
                      and isinstance(n.value, cst.Name) and n.value.value == "self"]
    return any(terminal_name(call.func) == "Parameter" for read in reads for call in built.get(read.attr.value, ()))


def _an_enum_member(node) -> bool:
    """``Stage.TRAIN``, ``tf.estimator.ModeKeys.EVAL``: an upper-case member of a CamelCase class."""
    if not isinstance(node, cst.Attribute) or not node.attr.value.isupper():
        return False
    owner = node.value.attr.value if isinstance(node.value, cst.Attribute) else \
        node.value.value if isinstance(node.value, cst.Name) else ""
    return owner[:1].isupper() and not owner.isupper()


# reductions whose result is a tensor (a 0-d one, tested for truth in Python: a host read)
_TENSOR_REDUCTIONS = frozenset({"sum", "any", "all", "count_nonzero", "amax", "amin", "mean",
                                "reduce_sum", "reduce_any", "reduce_all", "reduce_max", "reduce_min", "reduce_mean"})


def _bound_to_reductions(name: str, ctx) -> bool:
    """Every value the loss binds to ``name`` is a framework reduction (``matches.sum()``,
    ``torch.any(m)``) or a comparison: a tensor that is never None."""
    bindings = ctx.__dict__.setdefault("_reduction_bindings", {})
    if name not in bindings:
        values = [node.value for node in assignments_to(name, ctx)]
        bindings[name] = bool(values) and all(_a_reduction(value, ctx) for value in values)
    return bindings[name]


def _a_reduction(value, ctx) -> bool:
    if isinstance(value, cst.Comparison):
        return True
    op = ctx.op(value) if isinstance(value, cst.Call) else None
    if op is not None and op.name in _CASTS_AND_CLAMPS and op.args and op.namespace != "builtins":
        return _a_reduction(op.args[0], ctx)  # (y > 0).sum().float(), tf.cast(count_nonzero(m), tf.float32)
    return op is not None and op.name in _TENSOR_REDUCTIONS and op.namespace != "builtins"


_CASTS_AND_CLAMPS = frozenset({"float", "double", "long", "int", "half", "to", "type", "cast", "astype", "clamp",
                               "clamp_min", "clip", "detach", "maximum"})


class StateInLoss(Rule):
    """Variables created, or module/object state mutated, inside a loss.

    **Why it hurts training.** The loss runs inside the compiled train step. A variable (or a
    layer, which owns variables) created there is created again on every trace, is not tracked
    by the optimizer, and on TF raises "tf.function only supports singleton tf.Variables". A
    counter updated with ``assign_add``, a module-level list appended to, or a Python attribute
    annealed in a Keras loss's ``call`` (``self.beta *= self.decay``) runs once at trace time under
    ``tf.function``/``jax.jit`` (the update is silently lost) and behaves differently on each
    backend (eager torch runs such an update every step, so it is not reported there). A tensor of
    the step stored on the object (``self.last_loss = loss``, ``self.hist = m * self.hist + h``) is
    reported on every backend, eager torch included: it keeps the step's autograd graph (and, read
    back next step, a chain of graphs) alive after the step, and under jit it is a traced value
    that leaks out of the trace.

    **Instead** create state in ``__init__``/``build``, track values with Keras metrics
    (``update_state``), and keep the loss a pure function of its inputs.

    Before::

        step = tf.Variable(0)

        def loss(y_true, y_pred):
            step.assign_add(1)
            return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)

    After::

        def loss(y_true, y_pred):
            return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)
    """

    code = "BSG702"
    name = "state-in-loss"
    severity = "warning"
    summary = "variables created, or module state mutated, inside a loss"
    node_types = (cst.Call,)
    statement_types = (cst.Global, cst.Nonlocal, cst.Assign, cst.AugAssign)

    def check_node(self, node, ctx) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and _is_self(func.value):
            if func.attr.value in ("add_weight", "add_variable"):
                ctx.report(self, node, f"`{code_of(node)}` creates a variable on every call of the loss")
            return
        op = ctx.op(node)
        if op is not None and not op.is_method:
            if op.qualified in _VARIABLE_CONSTRUCTORS:
                if not (op.namespace.startswith("tensorflow") and tf1_graph_module(ctx)):
                    # (TF 1 graph code builds the loss once: one variable)
                    ctx.report(self, node, f"`{callee(node)}` creates a variable on every call of the loss")
                return
            if ((op.namespace == "keras.layers" and op.name[:1].isupper() and op.name not in _WEIGHTLESS_LAYERS)
                    or (op.namespace in ("torch.nn", "torch.nn.modules") and op.name in _TORCH_WEIGHT_LAYERS
                        and not _without_weights(op))) and not kept_on_self(node, ctx):
                ctx.report_once(self, node, key="BSG702-layer", more="layers built",
                                message=f"`{callee(node)}(...)` builds a new layer (and its weights) on every call")
                return
            if (builds_a_network(node, op, ctx) and not kept_on_self(node, ctx)) or op.qualified in _SESSION_CONSTRUCTORS:
                ctx.report(self, node, f"`{callee(node)}(...)` builds a new network (and loads its weights) on every "
                                       "call of the loss: build it once, outside")
                return
            built = wrapped_build(node, op, ctx)
            if built is not None:
                ctx.relate_to_report(self.code, built, node)  # Model(inputs=vgg.input, ...): that network again
                return
        if op is None and builds_a_network(node, None, ctx) and not kept_on_self(node, ctx):
            ctx.report(self, node, f"`{callee(node)}(...)` builds a new network (and loads its weights) on every "
                                   "call of the loss: build it once, outside")
            return
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            owner = func.value
            if method in _STATE_METHODS and (is_self_attribute(owner) or _is_module_name(owner, ctx)) \
                    and not _an_assigner(owner, node) \
                    and not (is_self_attribute(owner) and _tensorflow_graph_state(ctx)):
                ctx.report(self, node, f"`{code_of(node)}` updates state inside the loss: lost or run once under jit")
            elif method in _MUTATING_METHODS and _is_module_name(owner, ctx):
                ctx.report(self, node, f"`{code_of(node)}` mutates module state inside the loss")

    def check_statement(self, statement, ctx) -> None:
        if isinstance(statement, (cst.Global, cst.Nonlocal)):
            declared = ctx.__dict__.setdefault("_declared_outside", {})
            keyword = "global" if isinstance(statement, cst.Global) else "nonlocal"
            for name in statement.names:
                declared[name.name.value] = keyword
            return
        targets = [t.target for t in statement.targets] if isinstance(statement, cst.Assign) else [statement.target]
        declared = ctx.__dict__.get("_declared_outside", {})
        for target in targets:
            if isinstance(target, cst.Name) and target.value in declared:
                ctx.report(self, statement, f"`{code_of(statement)}` mutates the {declared[target.value]} "
                                            f"`{target.value}` from inside the loss: lost or run once under jit")
            elif is_self_attribute(target) and ctx.loss.info is not None and ctx.loss.info.name != "__init__" \
                    and _holds_the_graph(ctx.facts(statement.value)) and not ctx.in_config_branch \
                    and not _stored_again_below(statement, target, ctx.loss.node) and not tf1_graph_module(ctx):
                # (TF 1 graph code builds the loss once and keeps its tensor for the optimizer and the
                # session: ``self.loss = ...; train_op = opt.minimize(self.loss)``)
                ctx.report(self, target, f"`{code_of(target)} = ...` keeps tensors of this step on the object: "
                                         "it holds the step's graph (or a traced value under jit)")
            elif isinstance(statement, cst.AugAssign) and is_self_attribute(target) and not torch_only(ctx) \
                    and (_given_to_compile(ctx) or (ctx.loss.kind != "helper" and ctx.loss.info is not None
                                                         and ctx.loss.info.name in LOSS_CLASS_METHODS)) \
                    and not ctx.in_config_branch \
                    and not ctx.facts(statement.value).is_tensor:
                # self.beta *= self.decay in a Keras loss or layer's call: Python state, updated at
                # trace time only (compiled steps replay the graph without it)
                ctx.report(self, target, f"`{code_of(statement).strip()}` updates a Python attribute inside the "
                                         "loss: a compiled step runs it once, when traced, so the update is frozen")


def _given_to_compile(ctx) -> bool:
    """The loss is handed to Keras's ``compile(loss=...)``, or is a helper such a loss calls
    (a closure ``kl_divergence`` that ``loss`` adds in): Keras traces it into the train step."""
    compiled = {node.value for call in ctx.index.compile_calls for expression in compile_loss_arguments(call)
                for node in all_nodes(expression) if isinstance(node, cst.Name)}
    loss, seen = ctx.loss, 0
    while loss is not None and seen < 8:
        if loss.kind == "compile" or (loss.info is not None and loss.info.class_info is None
                                      and loss.info.name in compiled):
            return True
        if loss.kind != "helper":
            return False
        loss, seen = loss.caller, seen + 1
    return False


def _stored_again_below(statement, target, function) -> bool:
    """``self.d_fake = net(x)`` followed in the same block by ``self.d_fake = self.d_fake.mean()``:
    the object keeps what the later store puts there (its own finding), not this value. Not a store
    that reads the attribute's old value (``self.hist = (1 - m) * self.hist + ...``): the chain of
    steps starts there."""
    text = code_of(target)
    if any(code_of(node) == text for node in all_nodes(statement.value) if isinstance(node, cst.Attribute)):
        return False
    for block in all_nodes(function):
        body = getattr(block, "body", None)
        if not isinstance(block, (cst.IndentedBlock, cst.Module)) or not isinstance(body, (list, tuple)):
            continue
        for position, line in enumerate(body):
            if isinstance(line, cst.SimpleStatementLine) and any(small is statement for small in line.body):
                later = [small for after in body[position + 1:] if isinstance(after, cst.SimpleStatementLine)
                         for small in after.body]
                later += [small for small in line.body[line.body.index(statement) + 1:]]
                return any(isinstance(small, cst.Assign) and any(code_of(t.target) == text for t in small.targets)
                           for small in later)
    return False


def _holds_the_graph(facts) -> bool:
    """A tensor with the prediction's gradient, or a Python list of them (``[disp[:, 0]]``, the
    pyramid of estimates): kept on the object, it keeps the step's graph alive."""
    if facts.is_tensor and facts.has_grad:
        return True
    # a list display of such tensors (``[disp[:, 0]]``); a comprehension's entries are unknown here
    # (``[l.item() for l in losses]`` holds numbers)
    return facts.python_list and facts.elements is not None and any(e.is_tensor and e.has_grad
                                                                     for e in facts.elements)


def _is_self(node) -> bool:
    return isinstance(node, cst.Name) and node.value == "self"


def _is_module_name(node, ctx) -> bool:
    return isinstance(node, cst.Name) and node.value in ctx.index.module_names and node.value not in ctx.evaluator.env

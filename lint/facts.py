"""What the linter knows about a value inside a loss: a tiny abstract interpreter.

Every expression gets ``Facts``: which loss inputs it derives from (its *taint*: the target, the
prediction, another tensor), and the few properties the rules need -- bounded away from zero
(safe under ``log``/``sqrt``/division), bounded in magnitude (safe under ``exp``), an error
between target and prediction, a sum over the batch axis, the batch size itself, a shape.
Names take the facts of their last assignment, so ``y_pred = clip(y_pred, eps, 1)`` guards a
later ``log(y_pred)``.

    >>> import libcst as cst
    >>> from keras_bsguard.lint.names import ImportTable
    >>> table = ImportTable(); table.add_import("tensorflow", "tf")
    >>> ev = Evaluator(table, {"y_true": frozenset({"true"}), "y_pred": frozenset({"pred"})})
    >>> f = ev.facts(cst.parse_expression("tf.abs(y_true - y_pred) - 0.1"))
    >>> sorted(f.taint), f.thresholded
    (['pred', 'true'], True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import libcst as cst

from .calls import Op, in_tensor_namespace, resolve_call
from .module_index import criteria_by_reduction, inline_criterion
from .names import dotted_parts, terminal_name
from .tree import children as tree_children, own_nodes
from .vocabulary import PRED_NAMES, TARGET_NAMES, name_words
from .lazy_re import compile_lazily

TRUE, PRED, TENSOR = "true", "pred", "tensor"
EMPTY: frozenset[str] = frozenset()
_EPS_NAME = compile_lazily(r"eps|epsilon|smooth|tiny|_?EPS|stabili[sz]er|offset|floor", re.IGNORECASE)
_BATCH_NAME = compile_lazily(r"batch|^bs$|^BS$", re.IGNORECASE)
# names that say a small positive constant, never 0 (``eps``), unlike a smoothing rate
_STRICT_EPS_NAME = compile_lazily(r"eps|epsilon|tiny", re.IGNORECASE)
_EPSILON_WORD = compile_lazily(r"(^|_)(eps|epsilon|tiny)($|_)", re.IGNORECASE)  # eps, self.eps, min_eps; not n_steps
_FLOAT32_STEP_BELOW_ONE = 1e-7  # 1 - x rounds to 1.0 in float32 for x below about 6e-8
_NEGLIGIBLE = 1e-6  # a factor that makes a sum a placeholder, not a loss value
# a batch size fixed in the loss itself (``bs``/``n_batch`` are as often a block or group size)
_LOCAL_BATCH_SIZE_NAME = compile_lazily(r"^_?(batch_?size|batchsize|batch_?sz|global_batch_size)$", re.IGNORECASE)
BATCH_SIZE_NAME = _BATCH_SIZE_NAME = compile_lazily(r"^_?(batch_?size|batchsize|bs|batch_?sz|n_?batch|global_batch_size)$", re.IGNORECASE)

# objects that hold a run's settings (argparse's namespace, a config module or dict-like object)
_CONFIG_NAMES = frozenset({"args", "opt", "opts", "cfg", "cfgs", "config", "configs", "conf", "hparams", "hps",
                           "hp", "flags", "options", "settings", "hyperparams", "hyperparameters"})
CONFIG_NAMES = _CONFIG_NAMES

SUM_OPS = frozenset({"sum", "reduce_sum", "nansum"})
MEAN_OPS = frozenset({"mean", "reduce_mean", "nanmean", "average"})
MAX_REDUCE_OPS = frozenset({"max", "reduce_max", "amax", "nanmax", "pmax"})  # pmax: across devices too
MIN_REDUCE_OPS = frozenset({"min", "reduce_min", "amin"})
LOGSUMEXP_OPS = frozenset({"logsumexp", "reduce_logsumexp"})
SHAPE_OPS = frozenset({"shape", "int_shape", "get_shape", "shape_n", "Size", "TensorShape", "rank", "ndim"})
SIZE_OPS = frozenset({"size", "numel"})
PASS_THROUGH_OPS = frozenset(
    {"cast", "astype", "float", "double", "half", "to", "type", "convert_to_tensor", "identity",
     "squeeze", "reshape", "flatten", "view", "ravel", "contiguous", "clone", "asarray", "array",
     "constant", "cast_to_floatx", "squeeze_or_expand_to_same_rank", "gather", "gather_nd", "take",
     "take_along_axis", "boolean_mask", "broadcast_to", "expand_as", "tile", "repeat", "flip",
     "roll", "sort", "nan_to_num", "ensure_shape", "reverse", "slice", "Print",  # tf.Print(x, data): x
     "strided_slice", "pad", "cumsum", "cumprod", "cpu", "cuda", "permute", "moveaxis", "swapaxes",
     "expand", "real", "diag", "diagonal", "diag_part", "index_select", "masked_select", "narrow",
     "triu", "tril", "as_tensor", "to_dense", "type_as", "new_tensor", "repeat_elements", "unfold"}
)
# pooling: each output a mean or maximum of input values
_POOLING_OPS = frozenset({"avg_pool1d", "avg_pool2d", "avg_pool3d", "max_pool1d", "max_pool2d", "max_pool3d",
                          "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
                          "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
                          "avg_pool", "max_pool", "average_pooling2d", "pool"})
LAYOUT_OPS = frozenset({"contiguous", "clone", "float", "double", "half", "to", "type", "cast", "astype",
                        "cpu", "cuda", "type_as", "cast_to_floatx", "convert_to_tensor", "identity"})
EXPAND_OPS = frozenset({"expand_dims", "unsqueeze"})
# ops that change only the shape or dtype of their operand: squeeze(exp(x)) is still exp(x)
_SHAPE_ONLY_OPS = frozenset({"squeeze", "flatten", "ravel", "cast", "astype", "float", "double", "to",
                             "type", "contiguous", "ensure_shape", "convert_to_tensor", "identity"})
# a pytree's leaves (the parameters of a model), as a Python list: jax.tree_util.tree_leaves,
# jax.tree.leaves, dm-tree's tree.flatten
_TREE_LEAVES = frozenset({"tree_leaves", "leaves", "tree_flatten", "flatten"})
# methods that may put a host tensor back on a device
_TO_DEVICE_METHODS = frozenset({"cuda", "to", "to_device", "pin_memory"})
# table lookups by index: the position of the indices (torch's gather and index_select take a dim first)
_LOOKUP_INDEX = {"gather": 1, "take": 1, "embedding_lookup": 1, "index_select": 2}
TRANSPOSE_OPS = frozenset({"transpose", "t", "matrix_transpose", "adjoint"})
STOP_OPS = frozenset({"stop_gradient", "detach", "no_grad"})
CLIP_OPS = frozenset({"clip", "clip_by_value", "clamp", "clamp_min", "clip_min", "clamp_max", "hardtanh"})
ABS_OPS = frozenset({"abs", "absolute", "fabs"})
SQUARE_OPS = frozenset({"square"})
NORM_OPS = frozenset({"norm", "l2_norm", "euclidean_norm", "vector_norm", "global_norm", "reduce_euclidean_norm"})
SQRT_OPS = frozenset({"sqrt"})
DISTANCE_OPS = frozenset({"cdist", "pairwise_distance"})
NONNEG_OPS = frozenset({"relu", "relu6", "softplus", "std", "reduce_std", "var", "reduce_variance",
                        "variance", "count_nonzero", "elu1p", "exp", "expm1"})
# library loss functions whose value is never negative (a cross-entropy, a distance)
NONNEG_LOSS_FUNCTIONS = frozenset({
    "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits", "mse_loss", "l1_loss",
    "smooth_l1_loss", "huber_loss", "softmax_cross_entropy_with_logits", "sparse_softmax_cross_entropy_with_logits",
    "sigmoid_cross_entropy_with_logits", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "softmax_cross_entropy", "sigmoid_binary_cross_entropy",
    "softmax_cross_entropy_with_integer_labels", "mean_squared_error", "mean_absolute_error"})
# keras.losses functions that return one non-negative value per sample (reduced over the last axis)
KERAS_PER_SAMPLE_LOSSES = frozenset({"mean_squared_error", "mse", "MSE", "mean_absolute_error", "mae", "MAE",
                                     "huber", "mean_squared_logarithmic_error", "msle", "MSLE",
                                     # per-sample, never negative, though not distances
                                     "logcosh", "log_cosh", "binary_crossentropy", "categorical_crossentropy",
                                     "sparse_categorical_crossentropy", "binary_focal_crossentropy",
                                     "categorical_focal_crossentropy", "kl_divergence", "kld", "KLD",
                                     "kullback_leibler_divergence", "hinge", "squared_hinge", "categorical_hinge",
                                     "mean_absolute_percentage_error", "mape", "MAPE",
                                     # keras.backend.ctc_batch_cost and keras.losses.ctc: one per sequence
                                     "ctc_batch_cost", "ctc"})
# tf.keras's upper-case names of per-sample loss functions (``CTC`` is a class)
KERAS_UPPER_CASE_ALIASES = frozenset(name for name in KERAS_PER_SAMPLE_LOSSES if name.isupper())
EXP_OPS = frozenset({"exp", "expm1", "exp2", "cosh", "sinh"})
LOG_OPS = frozenset({"log", "log2", "log10"})
BOUNDED_OPS = frozenset(
    {"tanh", "sigmoid", "softmax", "softsign", "hard_sigmoid", "hard_tanh", "cos", "sin", "erf",
     "l2_normalize", "normalize", "cosine_similarity", "atan", "arctan", "relu6", "clip_by_norm",
     "one_hot", "log_sigmoid", "log_softmax", "logsigmoid", "silu_bounded"}
)
PROBABILITY_OPS = frozenset({"sigmoid", "softmax"})
# the smallest distance below 1 that float32 keeps (its spacing just below 1 is 2 ** -24, about 6e-8)
_FLOAT32_MARGIN = 5.9e-8
# reshapes that keep each row's value where it was (a norm laid out to divide its rows)
_ROW_SHAPE_OPS = frozenset({"view", "reshape", "expand_as", "expand", "unsqueeze", "expand_dims", "view_as"})
# bounded ops whose value never exceeds 1 (relu6, atan and clip_by_norm can)
_AT_MOST_ONE_OPS = BOUNDED_OPS - {"relu6", "atan", "arctan", "clip_by_norm", "silu_bounded", "hard_tanh"}
BINARY_OPS = {"add": "+", "subtract": "-", "sub": "-", "multiply": "*", "mul": "*",
              "divide": "/", "true_divide": "/", "divide_no_nan": "/", "div_no_nan": "/", "truediv": "/", "realdiv": "/", "div": "/",
              "power": "**", "pow": "**", "matmul": "@", "mm": "@", "bmm": "@", "dot": "@",
              "tensordot": "@", "inner": "@"}
COMPARISON_OPS = frozenset(
    {"greater", "greater_equal", "less", "less_equal", "equal", "not_equal", "gt", "lt", "ge",
     "le", "eq", "ne", "logical_and", "logical_or", "logical_not", "isnan", "isfinite", "isinf",
     "is_nan", "is_inf", "is_finite", "reduce_any", "reduce_all", "any", "all", "isclose", "allclose"}
)
PIECEWISE_OPS = frozenset({"round", "rint", "sign", "floor", "ceil", "argmax", "argmin", "argsort", "trunc"})
WHERE_OPS = frozenset({"where", "select"})
_SVD_OPS = frozenset({"svd", "pca_lowrank", "svd_lowrank"})
# ops whose output has its input's axes in the same order (a moved batch axis stays where it is)
_AXES_KEEPING_OPS = LAYOUT_OPS | {"ensure_shape", "nan_to_num", "flip", "roll", "cumsum", "cumprod", "Print",
                                  "triu", "tril", "real"}
# counts and indices of entries: integers, whatever they count (no gradient through them)
# how often each value occurs: torch.histc(t, bins), bincount(t)
_VALUE_COUNT_OPS = frozenset({"histc", "bincount"})
_COUNT_OPS = frozenset({"count_nonzero", "bincount", "nonzero", "argwhere"})
MAXIMUM_OPS = frozenset({"maximum", "fmax"})
MINIMUM_OPS = frozenset({"minimum", "fmin"})
# ops that work entry by entry (with broadcasting): their output's axes are their inputs'
ELEMENTWISE_OPS = (ABS_OPS | SQUARE_OPS | SQRT_OPS | EXP_OPS | LOG_OPS | WHERE_OPS | MAXIMUM_OPS | MINIMUM_OPS
                   | CLIP_OPS | STOP_OPS | frozenset(name for name, symbol in BINARY_OPS.items() if symbol != "@")
                   | (COMPARISON_OPS - {"reduce_any", "reduce_all", "any", "all", "allclose"})
                   | frozenset({"tanh", "sigmoid", "softsign", "hard_sigmoid", "log_sigmoid", "logsigmoid", "cos", "sin",
                                "erf", "relu", "relu6", "elu", "softplus", "log1p", "negative", "neg", "reciprocal",
                                "round", "floor", "ceil", "sign", "trunc"}))
# torch's samplers: their results carry no gradient from their arguments
_TORCH_DRAWS = frozenset({"rand", "randn", "randint", "rand_like", "randn_like", "randint_like", "normal",
                          "bernoulli", "multinomial", "randperm", "poisson"})
CONSTANT_MAKERS = frozenset({"zeros_like", "ones_like", "zeros", "ones", "full", "fill", "eye",
                             "full_like", "constant_like", "arange", "range", "linspace"})
EPSILON_FUNCTIONS = frozenset({"epsilon"})
UNSTACK_OPS = frozenset({"unstack", "unbind", "split", "chunk", "dynamic_partition", "array_split", "tensor_split",
                         "hsplit", "vsplit"})
# of these, the ops that cut a tensor into a given number (or sizes) of parts, not into its rows
_PARTS_OPS = frozenset({"split", "chunk", "dynamic_partition", "array_split", "tensor_split", "hsplit", "vsplit"})
STACK_OPS = frozenset({"stack", "concat", "concatenate", "cat", "hstack", "vstack"})
HOST_VALUE_OPS = frozenset({"item", "tolist", "numpy", "convert_to_numpy", "get_value", "eval", "dim", "ndimension",
                            "nelement", "element_size", "is_contiguous", "is_floating_point", "data_ptr",
                            "get_device", "stride", "storage_offset", "ndim", "rank",
                            # string methods: a column name, a key, a mode -- never a tensor
                            "endswith", "startswith", "lower", "upper", "strip", "lstrip", "rstrip",
                            "isdigit", "isalpha", "format", "casefold", "removeprefix", "removesuffix"})
# ``d.items()``: the entries of a Python mapping (features by name), never the batch's rows
MAPPING_VIEW_OPS = frozenset({"items", "keys", "values"})
# names of Python sizes and counts (a shape, a number of segments)
_SIZE_NAME = compile_lazily(r"shape|size|(^|_)(num|n|count|length|len|dims?)(_|$)", re.IGNORECASE)
# torch functions that make a tensor from Python values: on the host unless given a device
# constructors that make one tensor of a Python list's values
_FROM_DATA_OPS = frozenset({"array", "asarray", "convert_to_tensor", "as_tensor", "constant"})
_TENSOR_CONSTRUCTORS = frozenset({"tensor", "as_tensor", "from_numpy", "Tensor", "LongTensor", "FloatTensor",
                                  "IntTensor", "BoolTensor", "DoubleTensor", "ones_like", "zeros_like", "full_like",
                                  "arange", "zeros", "ones", "full", "empty", "eye", "linspace"})


@dataclass(frozen=True)
class Facts:
    taint: frozenset = EMPTY
    guarded: bool = False  # bounded away from zero: safe under log, sqrt, division
    difference: bool = False  # a difference of two tensors: it can cancel to 0 (or below)
    complement: Facts | None = None  # for 1 - x: the facts of x (so 1 - (1 - x) is x again)
    target_total: bool = False  # lbl.sum(): a whole-batch sum of the target (a count of positives), grows with B
    gram: bool = False  # a matrix product of the batch's tensors (x.T @ x): singular when B <= D
    # a matrix of inner products a @ b.T: "self" when a and b are one tensor (x @ x.T: its diagonal
    # holds squared norms), "cross" otherwise
    inner: str | None = None
    inner_operands: frozenset = EMPTY  # the source texts of such a matrix's two operands (x, y of x @ y.T)
    # squared norms of these tensors' rows (diag(x @ x.T), (x ** 2).sum(1)), or sums of such terms
    # (rx.t() + ry): the left of a squared distance by hand rx + ry - 2 * x @ y.T
    squared_norms: frozenset = EMPTY
    # such a squared distance, or one scaled by a constant or a kernel width (its sign in nonneg/nonpos)
    squared_distance: bool = False
    # a parameter named as a kernel's width (``z_var``, ``bandwidth``): 1, or -1 once negated; its sign
    # is assumed only where it scales a value of known sign (exp(-gamma * d)), never under log or sqrt
    kernel_width: int = 0
    data_length: bool = False  # a Python list with one entry per entry of a tensor (a comprehension over it)
    nonneg: bool = False
    nonpos: bool = False
    bounded: bool = False  # magnitude does not grow with the inputs: safe under exp
    error: bool = False  # a signed difference between target and prediction
    magnitude: bool = False  # abs/square/norm of an error
    thresholded: bool = False  # a magnitude minus a threshold
    scaled: bool = False  # multiplied by a factor, squared, or a product of tensors
    batch_dim: bool = False  # equals the batch size
    feature_count: bool = False  # a size of non-batch axes only (shape[1:], x.size(1)): no batch average
    shape: bool = False  # a shape, or a number taken from one
    tensor_shape: bool = False  # the shape of a tensor that has the batch axis first
    batch_sum: cst.CSTNode | None = None  # the full/axis-0 sum this value carries
    batch_mean: cst.CSTNode | None = None  # the full/axis-0 mean this value is (times the batch size: a sum)
    boolean: bool = False
    probability: bool = False  # softmax/sigmoid output
    literal: float | None = None
    transposed: bool = False
    expanded_axis: int | None = None  # axis inserted by expand_dims / None-indexing
    exp_node: cst.CSTNode | None = None  # this value is exp(...) of an unbounded argument
    exp_sum: cst.CSTNode | None = None  # a sum of exp(...): the exp it sums
    max_shifted: bool = False  # ``x - max(x)``: <= 0 with a 0 in every row
    peak_one: bool = False  # ``exp(x - max(x))``: in (0, 1] with a 1 in every row, so its row sum is >= 1
    masked_positive: bool = False  # positive values times a 0/1 mask: a row sum of it is positive
    positive_terms: bool = False  # probabilities plus a non-negative value: any sum of it is positive
    batch_constant: bool = False  # a literal/constant equal to a fixed batch size
    configured_batch: bool = False  # a batch size set by configuration, not read from a tensor
    made_tensor: bool = False  # a tensor the loss makes (zeros, ones, full): data once written into
    tensor_parts: bool = False  # a Python list of tensors cut from one (split, chunk): each keeps its rows
    parts_of: tuple = ()  # the names a concat/stack was built from (a max over it bounds each)
    network_output: bool = False  # what a network returned: maybe a tuple of heads, not rows to loop over
    elements: tuple | None = None  # a tuple/list display's own elements' facts, for unpacking it
    opaque: bool = False  # returned by a function we cannot see into: tensor-ness unknown
    python_list: bool = False  # a Python list/tuple of values, not a tensor
    mapping: bool = False  # a Python dict the loss fills (``df = dict(); df[m] = ...``): its entries are tensors
    grown_list: bool = False  # a Python list the loss grew with ``append``/``extend``
    # such a list of per-position terms of the batch, each (B,): ``terms.append(f(x[:, m]))`` in a
    # loop over positions ``m``
    column_terms: bool = False
    # reshaped to exactly two axes (``x.view(B, -1)``, ``flatten(1)``): a (batch, features) matrix
    two_axes: bool = False
    sample_index: bool = False  # a loop counter over ``range(B)``, B read from the batch axis
    below_one: bool = False  # clipped strictly below 1: ``1 - x`` is bounded away from zero
    # has a factor divided by its own full sum (w / sum(w)) or by a normaliser the caller passes
    # (loss / num_positives, loss /= avg_factor): its sum is a weighted mean or a normalised sum
    unit_weighted: bool = False
    values_of: str | None = None  # a cast or reshape of the named tensor (``_t = t.long()``): its values
    counts_of: str | None = None  # ``histc(t)``, ``bincount(t)``: how often each value of the named tensor occurs
    # ``bincount(t)[t]``: how often each sample's own value occurs in the batch, >= 1; ``x / it``
    # sums to a sum of per-value means (center loss), not a sum that grows with the batch
    own_count: bool = False
    # ``numel(x)`` of a tensor with the batch axis: ``per_sample_sum / it`` sums to the mean over everything
    element_count: bool = False
    capped: bool = False  # at most a fixed value (``c - softplus(x)``), though unbounded below: safe under exp
    batch_range: bool = False  # range(batch_size): iterating it walks the samples
    reduced_loss: bool = False  # a loss object (``BinaryCrossentropy()``) whose call returns the batch mean
    negative: bool = False  # clipped strictly below 0 (``clamp(x, max=-1e-7)``): ``-x`` is bounded away from zero
    inside_unit: bool = False  # clipped strictly inside (-1, 1): its square is below one
    max_of: tuple[str, ...] = ()  # ``max(name)``, ``maximum(a, max(b))``: ``name - max_of`` is never positive
    # a maximum taken over the prediction's scores (``neg.max(1)[0]``, a row maximum shifted back
    # by a minimum, transposed or reshaped): ``scores - peak`` is the log-sum-exp trick, whose exp
    # the author keeps from overflowing (the stabilisation, though of another set's maximum)
    peak: bool = False
    trough: bool = False  # a minimum taken over the prediction's scores
    peak_shifted: bool = False  # ``scores - peak``: at most about 0 where the peak's own entry is
    # such terms times a mask of the data: a mask may leave out the peak's entry, or every entry
    stabilised_masked: bool = False
    # ``exp(s - peak)``, masked or weighted by the data, or a sum with such terms: the stabilised
    # log-sum-exp's terms, of order one next to the peak's, so their sum does not underflow to 0
    stabilised: bool = False
    batch_rows: bool = False  # a Python list of the batch's rows (``unstack(x)`` along axis 0)
    no_batch_axis: bool = False  # the batch axis was contracted away (``x.T @ x``: D x D)
    zero: bool = False  # exactly zero (``x * 0``): an empty-input placeholder, not a reduction
    unit: bool = False  # in [0, 1] (a probability, ``1 - p``, a clip to [0, 1])
    zero_of: str | None = None  # a comparison true where the named value is 0 (``den == 0``)
    nonzero_of: str | None = None  # a comparison true where the named value is not 0 (``den > 0``)
    # ``torch.equal(zero, x)``: true where x is 0 everywhere (its else knows only x's whole
    # reductions nonzero, ``sum(x ** 2)``, ``norm(x)``: single entries of x may still be 0)
    whole_zero_of: str | None = None
    nonzero_also: tuple[str, ...] = ()  # ``(a > 0) & (b > 0)``: further values known nonzero where it holds
    maybe_list: bool = False  # a parameter: it may be a Python list of tensors (views, outputs)
    batch_dim_source: bool = False  # a shape of a tensor with the loss inputs' batch axis first
    batchless_shape: bool = False  # the shape of a tensor known to have no batch axis (objects x dims)
    named_tensor: bool = False  # a parameter named like a target or prediction (a tensor, in practice)
    nograd: bool = False  # no gradient flows through it (target-only, stop_gradient, comparisons, casts)
    step_node: cst.CSTNode | None = None  # the step function (round, x > 0 cast) that ended its gradient
    # a constant made in the shape of a batch tensor (``zeros_like(pred)``): no gradient, no taint,
    # but its axis 0 is the batch (``range(field.shape[0])`` counts samples)
    batch_shaped: bool = False
    on_host: bool = False  # already copied to the host (``x.cpu()``, ``x.numpy()``): no further sync
    above_one: bool = False  # at least 1 + c for some c > 0 (``2 + relu(x)``, ``1 + (1 + count)``): its log is positive
    at_most_one: bool = False  # never above 1 (``cos``, ``tanh``, a probability): ``2 - x`` is at least 1
    # (root, axes dropped): this value has the rank of the tensor ``root`` less that many axes
    # (``y_pred[:, 0]``: one fewer; ``y_pred[:, 0:1]``, ``abs(y_pred - 1)``: as many), the batch
    # axis still first. Keras's ``y_true`` and ``y_pred`` share one root (tf.keras gives a 1-D
    # target y_pred's rank); set in Evaluator._settled, for subscripts and elementwise math only
    rank_of: tuple | None = None
    # where a transpose with a literal order moved the batch axis: (position, number of axes or
    # None); None: axis 0, as assumed everywhere else (``x.transpose(0, 1)`` of (B, T) is (T, B))
    batch_axis: tuple | None = None
    # a hard (Viterbi, MAS) alignment of 0s and 1s with one 1 per frame: its full sum is positive
    alignment_path: bool = False
    # times weights named as normalised (a normalized_weights parameter): summed along an axis,
    # a weighted mean over that axis (along which axis they sum to one is not known)
    weights_to_one: bool = False
    # a list whose appended entries were each divided by a count (``append(ce / B)``): their sum is a mean
    normalised_entries: bool = False
    feature_parts: bool = False  # the parts of a split along a later axis (channel groups, not samples)
    complement_mask: bool = False  # ``1 - (d > 0)``: its ``zero_of`` holds only where d is not negative
    # a sum, mean or norm over every axis, the batch's included, of squares or magnitudes of a
    # value that is not an error (``sqrt(sum(y_pred * y_pred))``, ``norm(y_pred)``), or a root or
    # product of such: 0 only where every entry of every sample is exactly 0
    batch_energy: bool = False
    # the length (or squared length) of a vector that is not a difference (``norm(emb)``,
    # ``sum(emb ** 2, -1)``): 0 only when every entry is exactly 0, which no fit drives it to
    length: bool = False
    # norm(a) * norm(b), an outer product of norms (plus an epsilon): a cosine's denominator
    norm_pair: frozenset = EMPTY
    norm_of: str | None = None  # the value this is the norm of (``norm(x, dim=1)``, ``sqrt(sum(x ** 2, -1))``)
    square_of: str | None = None  # the value this is the square of (``buffer = torch.pow(x, 2)``)
    squares_summed: str | None = None  # the value whose squares this sums (``normp = sum(x ** 2, 1) + eps``)
    # a * b of two tensors, and its sum over an axis (or a @ b.T): a cosine's numerator
    product_operands: frozenset = EMPTY
    inner_pair: frozenset = EMPTY
    # a Dice coefficient's numerator: a sum of a * b (``2 * sum(t * p) + smooth``), the two operands'
    # source texts; and a denominator's summed tensors (``sum(t) + sum(p)``, ``sum(t + p)``,
    # ``sum(t ** 2) + sum(p ** 2)``). Their ratio is the Dice coefficient of t and p, in [0, 1]
    overlap_of: frozenset = EMPTY
    summed: frozenset = EMPTY
    # the complement of a score (``1 - dice``, ``-log(p)``): 0 where the score reaches 1, as a good fit drives it
    vanishes_at_fit: bool = False
    # bounds written in place (``x[x <= -1] = -0.99``): (value, strict), kept until the name is rebound
    signed_unit: bool = False  # in [-1, 1] (tanh, cos, a cosine similarity): its square is in [0, 1]
    floor: tuple | None = None
    ceiling: tuple | None = None

    @property
    def has_grad(self) -> bool:
        """Gradient flows from the prediction (or, in a helper, an argument) through this value."""
        return bool(self.taint - {TRUE}) and not self.nograd and not self.shape and not self.python_list \
            and not self.boolean

    @property
    def is_tensor(self) -> bool:
        """Certainly a tensor derived from the loss inputs (not a shape, list or opaque result)."""
        return bool(self.taint) and not self.shape and not self.opaque and not self.python_list


UNTAINTED = Facts(bounded=True)
HOST_COPY = Facts(bounded=True, on_host=True)
EMPTY_MAPPING = Facts(bounded=True, python_list=True, mapping=True)  # ``{}``, ``dict()``: entries written later  # a host value copied out of a tensor
SHAPE = Facts(shape=True, bounded=True)
# a ``batch_size`` name (a parameter, ``self.batch_size``, a global): the batch, as configured
BATCH_SIZE = Facts(shape=True, batch_dim=True, bounded=True, guarded=True, configured_batch=True)


def literal_facts(value: float) -> Facts:
    return Facts(literal=value, bounded=True, nonneg=value >= 0, nonpos=value <= 0, guarded=value > 0)


def is_factor(facts: Facts) -> bool:
    """An untainted multiplier that can scale a value up (a literal > 1, or a hyperparameter)."""
    return not facts.taint and not facts.shape and (facts.literal is None or abs(facts.literal) > 1)


# a parameter holding learned or fixed matrices (class centres, prototypes, weights): no batch axis
_PARAMETER_MATRIX_NAME = compile_lazily(r"(^|_)(weights?|w|centers?|centres?|prototypes?|kernel|codebook|"
                                        r"proxies|proxy|memory|bank|queue)$", re.IGNORECASE)


# methods of a probability distribution object (tfp, torch.distributions) that return probabilities
_DISTRIBUTION_PROBABILITIES = frozenset({"cdf", "prob", "survival_function", "sf", "pmf"})
# what detection and segmentation losses divide by: the number of positives (anchors, boxes,
# objects) or a normaliser the caller computes
_NORMALISER_NAME = compile_lazily(r"^(normali[sz]er|normali[sz]ation_factor|avg_factor|num_(pos|positives?|boxes|objects|"
                                  r"anchors|gts?|instances|valid)(_sum)?|n_(pos|positives?|boxes|objects))$", re.IGNORECASE)
_HARD_ALIGNMENT_NAME = compile_lazily(r"(^|_)(hard_(attn|attention|alignments?|align)|"
                                      r"(attn|attention|alignments?|align)_hard)$", re.IGNORECASE)
_NORMALISED_WEIGHTS_NAME = compile_lazily(r"(^|_)(self_)?normali[sz]ed_(importance_)?weights?$", re.IGNORECASE)
# a 0/1 mask: ``mask``, ``valid_masks``; a survival model's risk set (``riskset``, ``risk_set``), the
# 0/1 matrix of the samples still at risk at each one's event time (itself among them)
_MASK_PARAMETER = compile_lazily(r"(^|_)(masks?|risk_?sets?)$", re.IGNORECASE)
_PROBABILITY_WORDS = frozenset({"probs", "proba", "probas", "probabilities"})
# words that make a probability name something else: log_probs, unnormalized_probs, raw_probs
# words that make a probability name a mean of probabilities: mean_anchor_probs, avg_probs
_AVERAGE_WORDS = frozenset({"mean", "avg", "average", "averaged", "marginal"})
_NOT_PROBABILITY_WORDS = frozenset({"log", "logs", "ln", "neg", "nll", "unnorm", "unnormalized", "unnormalised",
                                    "raw", "logit", "logits", "energy"})


def _names_probabilities(name: str) -> bool:
    """``probs``, ``pred_probs``, ``probabilities``: probabilities the caller computed; not
    ``log_probs`` or ``unnormalized_probs``."""
    words = name.lower().split("_")
    return words[-1] in _PROBABILITY_WORDS and not _NOT_PROBABILITY_WORDS & set(words)


# a distribution's parameters that its model head keeps positive (exp, softplus + eps, evidence + 1):
# a Gaussian's scale, a Dirichlet's or a Beta's concentrations. Not a variance: heads that predict
# one often end in a bare softplus, and a variance collapsing to 0 is the known NaN of Gaussian NLL
# training (torch's GaussianNLLLoss clamps it to eps for that reason)
_POSITIVE_PARAMETER_WORDS = frozenset({"sigma", "sigmas", "std", "stds", "stddev", "scale", "scales",
                                       "concentration", "concentrations", "alpha", "alphas"})
# words that make such a name something else: log_sigma, raw_var, unconstrained_scale, inv_std
# or a predicted or true value of something else called alpha: pred_alpha, gt_alpha (a matte)
_NOT_POSITIVE_WORDS = frozenset({"log", "ln", "raw", "logit", "logits", "unconstrained", "pre", "inv", "neg", "delta",
                                 "diff", "err", "error", "residual", "pred", "predicted", "gt", "true", "target",
                                 "matte", "mask", "blend", "mix", "mixup", "channel"})


def _names_a_kernel_width(name: str) -> bool:
    """``z_var``, ``sigma``, ``bandwidth``, ``gamma``: perhaps the width of a kernel a loss is handed
    (an RBF or MMD kernel's ``exp(-d * gamma)``), taken as positive only where it scales a value of
    known sign, such as a squared distance (a variance under ``log`` may still be 0).

        >>> _names_a_kernel_width("z_var"), _names_a_kernel_width("bandwidth"), _names_a_kernel_width("log_var")
        (True, True, False)
    """
    words = name.lower().split("_")
    return (words[-1] in {"var", "variance", "bandwidth", "gamma", "sigma", "sigmas", "scale"}
            and not _NOT_POSITIVE_WORDS & set(words))


def names_a_positive_parameter(name: str) -> bool:
    """``sigma``, ``pred_var``, ``quant_alpha``, ``concentration``: a distribution parameter a
    model's head keeps positive, read as the head's output (a parameter of the loss, one of its
    named outputs); not ``log_sigma`` or ``raw_var``.

        >>> names_a_positive_parameter("quant_alpha"), names_a_positive_parameter("log_sigma")
        (True, False)
        >>> names_a_positive_parameter("prob_ratios_t"), names_a_positive_parameter("log_prob_ratio")
        (True, False)
        >>> names_a_positive_parameter("hazard_pred"), names_a_positive_parameter("log_hazard")
        (True, False)
    """
    words = name.lower().split("_")
    if {"ratio", "ratios"} & set(words) and {"prob", "probs", "probability", "likelihood", "importance"} & set(words):
        return not _NOT_POSITIVE_WORDS & set(words)  # prob_ratios_t: pi / pi_old, a PPO ratio exp(logp - logp_old)
    if _RATE_WORDS & set(words):  # hazard_pred, hazards: a survival model's hazard rate, exp or softplus of a head
        return not (_NOT_POSITIVE_WORDS - {"pred", "predicted"}) & set(words)
    return words[-1] in _POSITIVE_PARAMETER_WORDS and not _NOT_POSITIVE_WORDS & set(words)


# a survival model's predicted hazard rate (positive by definition: the head applies exp or softplus)
_RATE_WORDS = frozenset({"hazard", "hazards", "intensity", "intensities"})
# times and durations of the data (survival times, interval bounds, a video's length): positive
_DURATION_WORDS = frozenset({"time", "times", "duration", "durations"})


def names_a_duration(name: str) -> bool:
    """``lower_time``, ``durations``, ``event_times``: a time of the data, positive (not a difference
    of times, nor a log of one).

        >>> names_a_duration("lower_time"), names_a_duration("durations"), names_a_duration("log_time")
        (True, True, False)
    """
    words = set(name.lower().split("_"))
    return bool(_DURATION_WORDS & words) and not words & _DERIVED_QUANTITY_WORDS


# words that make a name a quantity derived from a time or an area (a log, a difference, an error,
# a prediction of it), not the data's own positive value
_DERIVED_QUANTITY_WORDS = frozenset({"log", "diff", "delta", "residual", "err", "error", "pred", "predicted", "raw",
                                     "neg"})


def names_an_area(name: str) -> bool:
    """``area``, ``gt_areas``, ``bbox_area``: an area of the data, positive (not a difference or a
    log of one).

        >>> names_an_area("area"), names_an_area("gt_areas"), names_an_area("area_diff"), names_an_area("areal")
        (True, True, False, False)
    """
    words = set(name.lower().split("_"))
    return bool(words & {"area", "areas"}) and not words & (_DERIVED_QUANTITY_WORDS | {"ratio"})


_COMPREHENSIONS = (cst.ListComp, cst.GeneratorExp, cst.SetComp, cst.DictComp)


# ops that change only the shape or dtype of a value, not any of its entries
REGROUPING_OPS = _SHAPE_ONLY_OPS | {"reshape", "view", "expand_dims", "unsqueeze"}


def _keeps_complement(node, evaluator) -> bool:
    """``1 - x`` itself, a name bound to it, or a reshape/cast of it: still ``1 - x``, value for value."""
    if isinstance(node, cst.Name) or (isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Subtract)):
        return True
    if isinstance(node, cst.Call):
        op = evaluator.op(node)
        # or a same-file helper's call: its summary keeps a complement only where it returns ``1 - x``
        return op.name in REGROUPING_OPS if op is not None else evaluator.summarize is not None
    return False


# loop variables named for an output walk a list of outputs (deep supervision, heads), not rows
_OUTPUT_WORDS = ("scale", "level", "output", "pred", "head", "view", "stage", "layer", "crop", "part")


def _names_an_output(target) -> bool:
    return isinstance(target, cst.Name) and any(word in target.value.lower() for word in _OUTPUT_WORDS)


def _fixed_list(facts: Facts, rows: bool) -> bool:
    """A Python list that is not as long as the batch (``rows``) or as a tensor's entries."""
    return facts.python_list and not facts.batch_rows and (rows or not facts.data_length)


def _bound_names(target) -> list[str]:
    """The names a ``for`` target binds (``x``, ``(i, (a, b))``)."""
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [name for element in target.elements for name in _bound_names(element.value)]
    return []


# syntax that holds no expression: never descended into when facts are computed bottom-up
_NOT_EXPRESSIONS = (cst.SimpleWhitespace, cst.ParenthesizedWhitespace, cst.TrailingWhitespace, cst.Comment,
                    cst.Newline, cst.LeftParen, cst.RightParen, cst.LeftSquareBracket, cst.RightSquareBracket,
                    cst.LeftCurlyBrace, cst.RightCurlyBrace, cst.Comma, cst.Dot, cst.BaseBinaryOp,
                    cst.BaseUnaryOp, cst.BaseBooleanOp, cst.BaseCompOp, cst.AssignEqual, cst.Colon)


# what makes a weight's initial values from a shape (not ``zeros_like(x)``, which copies x's)
_INITIALISERS = frozenset({"random_normal", "random_uniform", "truncated_normal", "normal", "uniform", "zeros",
                           "ones", "fill", "full", "empty", "randn", "rand", "constant"})
# activation modules (``self.sigmoid = nn.Sigmoid()``) and the op each one applies
_ACTIVATION_MODULES = {"Sigmoid": "sigmoid", "Softmax": "softmax", "Tanh": "tanh", "Softsign": "softsign"}


def _bounded_op_facts(name: str, first: Facts) -> Facts:
    """Facts of a bounded op (``sigmoid``, ``softmax``, ``tanh``, ``one_hot``...) of ``first``.

        >>> _bounded_op_facts("sigmoid", Facts(taint=frozenset({PRED}))).probability
        True
    """
    # of bounded logits (cosine similarities over a temperature), a sigmoid or softmax stays
    # away from 0: no log(0) underflow, so it is guarded rather than a confident probability
    positive = name in PROBABILITY_OPS and first.bounded and bool(first.taint)
    return Facts(taint=first.taint, bounded=True, nonneg=name in ("sigmoid", "softmax", "one_hot"),
                 nonpos=name in ("log_sigmoid", "logsigmoid", "log_softmax"), guarded=positive,
                 probability=name in PROBABILITY_OPS and not positive,
                 unit=name in ("sigmoid", "softmax", "one_hot", "hard_sigmoid"),
                 at_most_one=name in _AT_MOST_ONE_OPS, signed_unit=name in _SIGNED_UNIT_OPS)


# torch reductions that return a (values, indices) pair when given a dim
_VALUES_INDICES_OPS = frozenset({"max", "min", "sort", "topk", "kthvalue", "median", "mode"})
_SIGNED_UNIT_OPS = frozenset({"tanh", "hard_tanh", "cos", "sin", "erf", "softsign", "cosine_similarity"})


class Evaluator:
    """Facts of expressions at one program point of one loss; names read ``env``."""

    def __init__(self, imports, param_taints: dict[str, frozenset], module_ints=None, batch_literals=(),
                 summarize=None):
        self.imports = imports
        # summarize(call, evaluator) -> Facts of a same-file helper's return value, or None
        self.summarize = summarize
        self._helper_ends_gradient: set[int] = set()  # calls of same-file helpers whose return has no gradient
        # comprehensions over something other than the batch whose entries have no batch axis
        # ([x[labels == c].mean(0) for c in range(n_way)]: one entry per class), by node id
        self._batchless_entries: set[int] = set()
        self.env: dict[str, Facts] = {}
        self._synthetic: list = []  # expressions made here (``S * (1 - M)``): alive while their facts are memoised
        self.parameter_facts: dict[str, Facts] = {}  # each parameter's facts as the loss received it
        for name, taint in param_taints.items():
            if _BATCH_SIZE_NAME.match(name):
                self.env[name] = BATCH_SIZE
            elif taint:
                # Targets and predictions are tensors; other parameters (and plural outputs, which
                # deep supervision passes as lists) may be Python lists of tensors.
                keras_tensor = _keras_tensor_name(name)  # Keras passes tensors
                mask = bool(_MASK_PARAMETER.search(name)) and not taint - {TRUE}  # a 0/1 (or bool) mask
                # ``probs``: probabilities the caller computed (a softmax or sigmoid output)
                probability = _names_probabilities(name) and PRED in taint
                # ``sigma``, ``alpha``: a scale or concentration a positive head predicted
                positive = names_a_positive_parameter(name) and PRED in taint
                # ``lower_time``, ``durations``: a time or span of the data, positive (a divisor or a
                # log argument as safe as a count of frames)
                duration = names_a_duration(name) and PRED not in taint
                # ``area``, ``gt_areas``: a box's or an object's area from the data, positive (OKS's
                # ``d / sigmas ** 2 / (area + eps)`` is a non-negative ratio)
                duration = duration or (names_an_area(name) and PRED not in taint)
                # ``mean_anchor_probs``: a batch mean of probabilities, 0 only where every sample's is
                # (as for a mean taken in the loss itself)
                averaged = probability and bool(_AVERAGE_WORDS & set(name.lower().split("_")))
                # given without targets (a regulariser of the batch marginal, ``regularization_loss(
                # self, mean_anchor_probs)``, against a class prior): one value per class, no batch
                # axis; beside targets it may be each sample's ensemble mean
                marginal = averaged and not any(TRUE in t for t in param_taints.values())
                # ``hard_attention``, ``alignment_hard``: a hard (Viterbi, MAS) alignment, one 1 per frame,
                # so its sum counts the frames and is positive
                hard_alignment = bool(_HARD_ALIGNMENT_NAME.search(name))
                self.env[name] = Facts(taint=taint, maybe_list=not keras_tensor, named_tensor=not _may_be_a_list(name),
                                       # (``mean_anchor_probs``: the batch mean, one value per class)
                                       no_batch_axis=(bool(_PARAMETER_MATRIX_NAME.search(name))
                                                      and not name.lower().startswith("sample")) or marginal,
                                       nonneg=mask or probability or hard_alignment or positive or duration,
                                       bounded=mask or probability or hard_alignment,
                                       probability=probability and not averaged,
                                       unit=probability or hard_alignment, at_most_one=probability or hard_alignment,
                                       guarded=averaged or positive or duration, alignment_path=hard_alignment,
                                       # ``z_var``, ``bandwidth``: perhaps a kernel's width handed to the
                                       # loss, taken as positive only where it scales a signed value
                                       kernel_width=int(taint == {TENSOR} and _names_a_kernel_width(name)),
                                       # normalized_weights: weights that sum to one (importance
                                       # weights, a softmax over samples): a sum times them is a weighted mean
                                       weights_to_one=bool(_NORMALISED_WEIGHTS_NAME.search(name)),
                                       # in a TensorFlow or Keras file, y_true and y_pred share one
                                       # root: tf.keras expands a 1-D target to y_pred's rank
                                       rank_of=(KERAS_INPUTS if keras_tensor and _imports_keras(imports) else name, 0))
            else:
                self.env[name] = UNTAINTED
        self.parameter_facts = dict(self.env)
        self.module_ints = module_ints or {}
        self.batch_literals = frozenset(batch_literals)
        # module-level names bound to a reducing loss object (``bce = keras.losses.BinaryCrossentropy()``)
        self.module_loss_objects: frozenset[str] = frozenset()
        self.lambdas: dict[str, cst.Lambda] = {}  # local ``f = lambda x: ...``, read where called
        # names a training loop calls as its networks (``policy(states)``, a Keras model's ``self(x)``)
        self.network_names: frozenset[str] = frozenset()
        self.param_defaults: dict[str, float] = {}  # the loss's own numeric defaults (``gamma=2.0``)
        # settings ``__init__`` stores from numbers: attribute -> the sign of its default (see engine)
        self.setting_signs: dict[str, int] = {}
        self.runtime_attributes: frozenset[str] = frozenset()  # see ModuleIndex.runtime_batch_attributes
        self.layer_attributes: frozenset[str] = frozenset()  # see ModuleIndex.layer_attributes
        self.local_layers: frozenset[str] = frozenset()  # see module_index.local_layers
        self.summed_criteria: frozenset[str] = frozenset()  # see ClassInfo.summed_criteria
        self.distance_criteria: dict[str, str] = {}  # see ClassInfo.distance_criteria
        self.mean_criteria: frozenset[str] = frozenset()  # see ClassInfo.mean_criteria
        self.unreduced_criteria: frozenset[str] = frozenset()  # see ClassInfo.unreduced_criteria
        self.bounded_modules: dict[str, str] = {}  # see ClassInfo.bounded_modules
        # expressions known nonzero here (``if w.sum() > 0:`` makes ``w.sum()`` guarded in the body)
        self.guarded_texts: set[str] = set()
        self.depth = 0
        self._memo: dict[int, Facts] = {}
        self._ops: dict[int, Op | None] = {}

    # ---- public -------------------------------------------------------------------------
    def op(self, node: cst.Call) -> Op | None:
        key = id(node)
        if key not in self._ops:
            self._ops[key] = resolve_call(node, self.imports)
        return self._ops[key]

    def facts(self, node: cst.BaseExpression) -> Facts:
        key = id(node)
        cached = self._memo.get(key)
        if cached is None:
            # children first, without recursion: a 10,000-term sum or a deep nest of calls would
            # otherwise exhaust Python's stack; _compute then finds its operands in the memo
            for inner in self._uncached_subexpressions(node):
                if id(inner) not in self._memo:
                    self._memo[id(inner)] = self._settled(inner, self._compute(inner))
            cached = self._memo.get(key)
            if cached is None:
                cached = self._settled(node, self._compute(node))
                self._memo[key] = cached
        return cached

    def _settled(self, node, facts: Facts) -> Facts:
        """The facts kept for ``node``: gradient flow applied; ``complement`` only where the value
        is still ``1 - x`` (the subtraction itself, a name bound to it, a reshape or cast of it)."""
        facts = self._gradient_flow(node, facts)
        if facts.complement is not None and not _keeps_complement(node, self):
            facts = replace(facts, complement=None)
        if not isinstance(node, cst.Name):
            rank = self._rank_of(node, facts)
            if rank != facts.rank_of:
                facts = replace(facts, rank_of=rank)
        return facts

    def _rank_of(self, node, facts: Facts) -> tuple | None:
        """``Facts.rank_of`` of ``node``: known through subscripts that keep the batch axis first
        and through elementwise math; unknown after anything else (reductions, reshapes, calls)."""
        if not facts.is_tensor:
            return None
        if isinstance(node, cst.Subscript):
            return self._subscript_rank(node)
        if isinstance(node, cst.UnaryOperation):
            return self.facts(node.expression).rank_of
        if isinstance(node, cst.BinaryOperation) and not isinstance(node.operator, cst.MatrixMultiply):
            return _joined_rank([self.facts(node.left), self.facts(node.right)])
        if isinstance(node, cst.Call):
            op = self.op(node)
            if op is not None and op.name in LAYOUT_OPS and op.args:
                return self.facts(op.args[0]).rank_of  # x.float(), cast(x, "float32")
            if op is not None and op.name in ELEMENTWISE_OPS:
                return _joined_rank([self.facts(a) for a in (*op.args, *op.kwargs.values())])
        if isinstance(node, cst.Comparison):
            return _joined_rank([self.facts(p) for p in (node.left, *(c.comparator for c in node.comparisons))])
        return None

    def _subscript_rank(self, node: cst.Subscript) -> tuple | None:
        """``y_pred[:, 0]``: the root's rank less one; ``y[:, None]``: plus one; ``y[:, 1:2]``: the same.
        Only where the first index is a slice (the batch axis stays first) and the others are
        literal integers, slices, None or an ellipsis (``y[:, ..., 0]``; not ``y[..., 0]``)."""
        base = self.facts(node.value).rank_of
        elements = node.slice
        if base is None or not isinstance(elements[0].slice, cst.Slice):
            return None
        dropped = base[1]
        for element in elements[1:]:
            index = element.slice
            if isinstance(index, cst.Slice):
                continue
            value = index.value
            if _is_none(value):
                dropped -= 1
            elif isinstance(value, cst.Integer) or (isinstance(value, cst.UnaryOperation)
                                                    and isinstance(value.expression, cst.Integer)):
                dropped += 1
            elif not isinstance(value, cst.Ellipsis):
                return None  # y[:, idx]: a gather (or a host int we cannot read): not followed
        return (base[0], dropped)

    def _uncached_subexpressions(self, root) -> list:
        """Expressions under ``root`` whose facts are not known yet, innermost first (post-order)."""
        order: list = []
        stack = [(root, False)]
        memo = self._memo
        while stack:
            node, leaving = stack.pop()
            if leaving:
                if node is not root and isinstance(node, cst.BaseExpression):
                    order.append(node)
                continue
            if node is not root and (id(node) in memo or isinstance(node, (cst.Lambda, cst.FunctionDef))):
                continue
            if isinstance(node, _COMPREHENSIONS):
                # its parts are evaluated with its loop variables bound (see _comprehension)
                if node is not root:
                    order.append(node)
                continue
            stack.append((node, True))
            for child in tree_children(node):
                if not isinstance(child, _NOT_EXPRESSIONS):
                    stack.append((child, False))
        return order

    # ---- gradient flow ------------------------------------------------------------------
    def _gradient_flow(self, node, facts: Facts) -> Facts:
        """Whether gradient from the prediction reaches ``node``: some operand carries it, and
        the op itself does not end it (comparisons, step functions, integer casts, detach)."""
        if isinstance(node, cst.Name) or not facts.taint:
            return facts
        if isinstance(node, cst.Attribute) and _text(node) in self.env:
            return facts  # self.y_pred, bound earlier in the loss: its facts hold its gradient already
        if isinstance(node, cst.Call) and PRED in facts.taint and calls_a_model(node.func, self):
            return facts  # a network's output is a source of gradient (its weights), whatever its inputs
        if isinstance(node, cst.Subscript) and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index) \
                and _rows_of_a_table(self.facts(node.value), self.facts(node.slice[0].slice.value)):
            return facts  # user_table[users]: the rows of the model's table carry its gradient
        if isinstance(node, cst.Call) and id(node) in self._helper_ends_gradient:
            return facts  # a helper that thresholds, detaches or counts: what its body says, whatever it is given
        operands = _operands(node, self)
        if not operands:
            return facts
        operand_facts = [self.facts(o) for o in operands]
        ends = self._ends_gradient(node)
        step = _first(f.step_node for f in operand_facts)
        if ends:
            from_prediction = any(f.taint - {TRUE} for f in operand_facts)
            step = step or (node if ends == "step" and from_prediction else None)
            return replace(facts, nograd=True, step_node=step)
        # a Python list of tensors still carries their gradient (has_grad says no to lists)
        if any(f.taint - {TRUE} and not f.nograd and not f.boolean and not f.shape for f in operand_facts):
            return replace(facts, nograd=False, step_node=None)
        return replace(facts, nograd=True, step_node=step)

    def ends_gradient(self, node) -> str | None:
        """Public name of :meth:`_ends_gradient` for the rules."""
        return self._ends_gradient(node)

    def _ends_gradient(self, node) -> str | None:
        """"step" for ops whose value is a step function of their input, "stop" for detach-like."""
        if isinstance(node, cst.Comparison):
            return "step"
        if isinstance(node, cst.Attribute) and node.attr.value == "data" and self.facts(node.value).is_tensor:
            return "stop"  # torch's x.data: the same values, detached (not a PackedSequence's .data)
        if isinstance(node, cst.Call):
            op = self.op(node)
            if op is None:
                # all_gather(x), concat_all_gather(x): dist.all_gather's copies carry no graph
                # (``GatherLayer.apply``, ``all_gather_with_grad`` keep it)
                callee = _text(node.func).split(".")[-1].lower()
                return "stop" if _GATHER_NAME.search(callee) and not _GATHER_WITH_GRADIENT.search(_text(node.func)) \
                    else None
            if op.name in STOP_OPS:
                return "stop"
            if op.namespace == "torch" and op.name in _TORCH_DRAWS:
                # rand_like(logits), bernoulli(p), normal(mu, std): torch's samplers have no gradient
                # to their arguments (a shape, a distribution's parameters); ``mu + std *
                # randn_like(std)`` keeps its gradient through the sum, not through the draw
                return "stop"
            if op.name in PIECEWISE_OPS or op.name in COMPARISON_OPS or op.name in _COUNT_OPS:
                return "step"
            if op.namespace.split(".")[0] == "numpy":
                # np.log(p / q) of tensors: numpy computes on a host copy, with no gradient (torch
                # refuses a tensor that requires one; the copy itself is BSG701's finding)
                return "stop"
            if op.name in _INTEGER_METHODS and op.is_method:
                return "step"
            if op.name in ("cast", "astype", "to", "type") and _integer_dtype(op):
                return "step"
            if op.name in SHAPE_OPS or op.name in SIZE_OPS or op.name in ("one_hot",):
                return "stop"
        return None

    def bind_loop_target(self, target, iterable) -> None:
        """Bind a loop variable: ``enumerate`` counters are Python ints, ``zip`` binds element-wise."""
        if isinstance(iterable, cst.Call) and isinstance(target, (cst.Tuple, cst.List)):
            op = self.op(iterable)
            elements = [e.value for e in target.elements]
            if op is not None and op.namespace == "builtins" and op.name == "enumerate" and len(elements) == 2 \
                    and op.args:
                self.bind(elements[0], Facts(shape=True, bounded=True))
                self.bind_loop_target(elements[1], op.args[0])
                return
            if op is not None and op.namespace == "builtins" and op.name == "zip" and len(elements) == len(op.args):
                for element, source in zip(elements, op.args):
                    self.bind_loop_target(element, source)
                return
            if isinstance(iterable.func, cst.Attribute) and iterable.func.attr.value == "items" and len(elements) == 2:
                self.bind(elements[0], UNTAINTED)
                self.bind(elements[1], replace(UNTAINTED, taint=self.facts(iterable.func.value).taint, bounded=False))
                return
        facts = self._element_facts(iterable)
        if facts.no_batch_axis and _names_an_output(target):
            facts = replace(facts, no_batch_axis=False)  # for head_pred in y_pred: one output per head
        self.bind(target, facts)

    def _element_facts(self, iterable) -> Facts:
        """Facts of a loop variable: the taint of what is iterated, nothing more."""
        if _keys_or_items(iterable) and iterable.func.attr.value == "keys":
            return UNTAINTED  # for name in outputs.keys(): strings
        if isinstance(iterable, cst.Call):
            op = self.op(iterable)
            if op is not None and op.namespace == "builtins" and op.name == "range":
                # for b in range(bs), bs the batch size: b picks one sample
                # (not ``range(len(outputs))``: a list of side outputs has a length too)
                counts_samples = len(op.args) == 1 and self.facts(op.args[0]).batch_dim and not (
                    isinstance(op.args[0], cst.Call) and isinstance(op.args[0].func, cst.Name)
                    and op.args[0].func.value == "len")
                return Facts(shape=True, sample_index=counts_samples)
        facts = self.facts(iterable)
        if facts.shape:
            return Facts(shape=True)
        # an element of something that may be a Python list (of shapes, of views) may be a list itself;
        # a row of one tensor is one sample: its leading axis is no longer the batch
        rows = facts.is_tensor and not facts.maybe_list and not facts.python_list
        # an element of an opaque result (``fmaps`` unpacked from ``vmap(disc)(x)``: lists of feature
        # maps per discriminator) may be a list as well
        return replace(UNTAINTED, taint=facts.taint, bounded=not facts.taint, nograd=facts.nograd,
                       maybe_list=facts.maybe_list or facts.python_list or (facts.opaque and bool(facts.taint)),
                       on_host=facts.on_host,
                       no_batch_axis=rows, nonneg=facts.nonneg and facts.python_list)

    def bind(self, target: cst.BaseExpression, facts: Facts) -> None:
        if isinstance(target, cst.Name):
            if _LOCAL_BATCH_SIZE_NAME.match(target.value) and not facts.taint and facts.literal is not None \
                    and facts.literal >= 2 and float(facts.literal).is_integer():
                # ``batch_size = 32`` in the loss: the batch size fixed in code, like a global one
                facts = replace(facts, batch_constant=True, configured_batch=True)
            elif _LOCAL_BATCH_SIZE_NAME.match(target.value) and facts.element_count and not facts.batch_dim:
                # ``batch_size = tf.size(labels)``: the count of a label vector, named as the batch size
                facts = replace(facts, batch_dim=True)
            self.env[target.value] = facts
        elif isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) \
                and target.value.value == "self" and facts.taint:
            self.env[f"self.{target.attr.value}"] = facts
        elif isinstance(target, (cst.Tuple, cst.List)):
            parts = facts.elements if facts.elements is not None and len(facts.elements) == len(target.elements) \
                and not any(isinstance(e, cst.StarredElement) for e in target.elements) else None
            batch_at = _batch_position(target) if facts.tensor_shape else 0
            for position, element in enumerate(target.elements):
                inner = element.value
                if parts is not None:  # ``a, b = helper(...)`` where the helper returns ``x, y``
                    self.bind(inner, parts[position])
                elif facts.tensor_parts:  # ``neg, pos = tf.dynamic_partition(...)``: tensors
                    self.bind(inner, replace(facts, python_list=False, tensor_parts=False, batch_rows=False,
                                             batch_sum=None, exp_node=None))
                elif facts.tensor_shape:
                    # ``bs, h, w, c = x.shape``: the batch size, then one sample's sizes
                    starred = any(isinstance(e, cst.StarredElement) for e in target.elements[:position + 1])
                    # (``n, m = objects.size()`` of a tensor whose axis 0 is not the batch: no batch size)
                    batch_dim = position == batch_at and not facts.batchless_shape
                    self.bind(inner, Facts(shape=True, batch_dim=batch_dim, bounded=True,
                                           feature_count=position != batch_at and not starred))
                elif _names_its_role(inner, target) == TRUE and PRED in facts.taint:
                    # ``y_true, y_mask, y_pred = inputs``: beside a name for the prediction, the
                    # targets and their mask are data, without the prediction's gradient
                    self.bind(inner, replace(facts, taint=frozenset({TRUE}), batch_sum=None, exp_node=None))
                else:
                    self.bind(inner, replace(facts, batch_sum=None, exp_node=None))
        elif isinstance(target, cst.StarredElement):
            self.bind(target.value, facts)

    # ---- dispatch -----------------------------------------------------------------------
    def _compute(self, node: cst.BaseExpression) -> Facts:
        if isinstance(node, cst.Name):
            return self._name(node.value)
        if isinstance(node, (cst.Integer, cst.Float)):
            try:
                return literal_facts(float(node.evaluated_value))
            except (ValueError, OverflowError):
                return UNTAINTED
        if isinstance(node, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
            return UNTAINTED
        if isinstance(node, cst.Attribute):
            return self._attribute(node)
        if isinstance(node, cst.Call):
            return self._call(node)
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
            left, right = self.facts(node.left), self.facts(node.right)
            if left.boolean and right.boolean:  # (gt < 0) | (gt > 1): a mask
                return Facts(taint=left.taint | right.taint, boolean=True, bounded=True)
        if isinstance(node, cst.BinaryOperation):
            return self.binary(_BIN_SYMBOL.get(type(node.operator), "?"), node.left, node.right, node)
        if isinstance(node, cst.UnaryOperation):
            return self._unary(node)
        if isinstance(node, cst.Comparison):
            parts = [node.left, *(c.comparator for c in node.comparisons)]
            if any(isinstance(c.operator, (cst.Is, cst.IsNot, cst.In, cst.NotIn)) for c in node.comparisons):
                return UNTAINTED
            if any(isinstance(p, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)) for p in parts):
                return UNTAINTED  # reduction == "sum": a configuration test
            if any(_is_none(p) for p in parts):
                return UNTAINTED  # mask == None: a tensor compared to None is Python's False (TF, torch)
            if any(isinstance(p, (cst.List, cst.Tuple, cst.Dict, cst.Set)) and not _union([self.facts(p)])
                   for p in parts):
                return UNTAINTED  # masking != []: a Python container compared to a literal one
            facts = [self.facts(p) for p in parts]
            zero_of, nonzero_of = _zero_test(node, self)
            return Facts(taint=_union(facts), boolean=True, shape=all(f.shape or not f.taint for f in facts),
                         # counts[0] == counts[1] - 1 of Python ints: a comparison on the host
                         on_host=any(f.on_host for f in facts)
                         and all(f.on_host or (not f.taint and (f.literal is not None or f.shape)) for f in facts),
                         bounded=True, nonneg=True, unit=True,  # a bool counts as 0 or 1
                         opaque=_all_opaque(*facts), zero_of=zero_of, nonzero_of=nonzero_of,
                         batch_axis=shared_batch_axis(facts),
                         no_batch_axis=any(f.taint for f in facts)
                         and all(f.no_batch_axis or not f.taint for f in facts))
        if isinstance(node, cst.Subscript):
            facts = self._subscript(node)
            picked = _picked_maximum(node)
            return replace(facts, max_of=(*facts.max_of, picked)) if picked else facts
        if isinstance(node, cst.IfExp):
            body, orelse = self.facts(node.body), self.facts(node.orelse)
            joined = _join(body, orelse)
            test = self.facts(node.test)
            if not test.taint and not test.batch_dim and not (body.batch_sum and orelse.batch_sum):
                # ``x.mean() if size_average else x.sum()``: the sum is the user's option
                joined = replace(joined, batch_sum=None)
            elif test.zero_of is not None:
                # ``-neg.sum() if num_pos == 0 else -(pos + neg) / num_pos``: the sum is the
                # degenerate batch's fallback (CenterNet's focal loss); the normal path decides
                joined = replace(joined, batch_sum=orelse.batch_sum)
            elif test.nonzero_of is not None:
                joined = replace(joined, batch_sum=body.batch_sum)
            if body.guarded and not orelse.guarded and isinstance(node.test, cst.Name) and not test.taint \
                    and self.param_defaults.get(node.test.value, 0) \
                    and any(isinstance(n, cst.Name) and n.value == node.test.value for n in own_nodes(node.body)):
                # ``sigma + eps if eps else sigma`` with ``eps=1e-6`` by default: guarded unless a
                # caller turns the epsilon off (``eps=0.0`` or ``None`` by default: not guarded)
                joined = replace(joined, guarded=True)
            return joined
        if isinstance(node, cst.Dict):
            # df = {}: filled entry by entry; {"rgb": x, ...}: a Python container whose len counts
            # its keys (its entries, often host values, logs or lists, are left unknown)
            return EMPTY_MAPPING if not node.elements else Facts(bounded=True, python_list=True)
        if isinstance(node, (cst.Tuple, cst.List, cst.Set)):
            facts = [self.facts(e.value) for e in node.elements]
            whole = not isinstance(node, cst.Set) and not any(isinstance(e, cst.StarredElement) for e in node.elements)
            return Facts(taint=_union(facts), batch_sum=_first(f.batch_sum for f in facts),
                         shape=bool(facts) and all(f.shape for f in facts), python_list=True,
                         elements=tuple(facts) if whole else None)
        if isinstance(node, cst.BooleanOperation):
            left, right = self.facts(node.left), self.facts(node.right)
            # ``a == 0 or b == 0``: true where a is 0 (its else: neither is, see engine._zero_tested)
            either = isinstance(node.operator, cst.Or)
            return Facts(taint=left.taint | right.taint, boolean=True, opaque=_all_opaque(left, right),
                         zero_of=(left.zero_of or right.zero_of) if either else None,
                         whole_zero_of=(left.whole_zero_of or right.whole_zero_of) if either else None)
        if isinstance(node, (cst.Lambda,)):
            return UNTAINTED
        if isinstance(node, _COMPREHENSIONS):
            return self._comprehension(node)
        if isinstance(node, cst.NamedExpr):
            facts = self.facts(node.value)
            self.bind(node.target, facts)
            return facts
        return UNTAINTED

    def _comprehension(self, node) -> Facts:
        """``[f(x) for x in xs if c(x)]``: each ``for`` binds its target like a loop statement does
        (an element of what it walks), its conditions and element are read with those bindings, and
        the enclosing scope gets its own values of the names back afterwards."""
        saved: dict[str, Facts | None] = {}
        iterated = EMPTY
        over_batch = False  # a ``for`` over range(batch_size) or the batch's rows
        try:
            comp_for = node.for_in
            while comp_for is not None:
                over_batch = over_batch or self.facts(comp_for.iter).batch_range
                if not _keys_or_items(comp_for.iter):  # [k for k, v in out.items()]: the element says
                    iterated = iterated | self.facts(comp_for.iter).taint
                for name in _bound_names(comp_for.target):
                    saved.setdefault(name, self.env.get(name))
                self.bind_loop_target(comp_for.target, comp_for.iter)
                for condition in comp_for.ifs:
                    for name in nonzero_names(self.facts(condition.test)):  # [log(v) for v in u if v > 0]
                        if name in self.env and not self.env[name].guarded:
                            saved.setdefault(name, self.env[name])
                            self.env[name] = replace(self.env[name], guarded=True)
                comp_for = comp_for.inner_for_in
            if isinstance(node, cst.DictComp):
                self.facts(node.key)
                self.facts(node.value)
                return UNTAINTED
            element = self.facts(node.elt)
        finally:
            for name, value in saved.items():
                if value is None:
                    self.env.pop(name, None)
                else:
                    self.env[name] = value
        if element.shape and isinstance(node, cst.ListComp) and _reads_a_shape(node.elt):
            return Facts(shape=True, python_list=True, bounded=True)  # [f.shape[-2:] for f in feats]: sizes
        element_op = self.op(node.elt) if isinstance(node.elt, cst.Call) else None
        stopped = element_op is not None and element_op.name in STOP_OPS  # [x.detach() for x in xs]
        # [f(m) for m in means]: one entry per row of a batch tensor, so a list of the batch's length;
        # [apply(p, o) for o in observations]: as long as a tensor argument (maybe a list of them).
        # Not ``for head_pred in y_pred``: a loop variable named for an output walks a list of them.
        walks = not _names_an_output(node.for_in.target)
        per_sample = walks and self._walks(node.for_in.iter, rows=True)
        as_long = per_sample or (walks and self._walks(node.for_in.iter, rows=False))
        # [x[labels == c].mean(0) for c in range(n_way)]: one entry per class, none with a batch axis
        batchless = element.is_tensor and element.no_batch_axis and not as_long and not over_batch
        if batchless:
            self._batchless_entries.add(id(node))
        return Facts(taint=element.taint | iterated, python_list=True, nograd=stopped or (
                         element.nograd and bool(element.taint)), batch_rows=per_sample,
                     data_length=as_long, nonneg=element.nonneg)  # [b * 2 ** i for i in ...]: each >= 0

    def _walks(self, iterable, rows: bool) -> bool:
        """Iterating ``iterable`` gives one entry per sample (``rows``: the rows of a batch tensor,
        also through ``zip``/``enumerate``, or a list made one entry per sample), or one entry per
        entry of a tensor or of a list made from one (not ``range(3)``, not a ``zip`` with a fixed
        list of weights or heads, where zip stops at the shortest)."""
        if isinstance(iterable, cst.Call):
            op = self.op(iterable)
            if op is not None and op.namespace == "builtins" and op.name in ("zip", "enumerate"):
                if op.name == "zip" and any(isinstance(a, (cst.List, cst.Tuple)) or _fixed_list(self.facts(a), rows)
                                            for a in op.args):
                    return False
                return any(self._walks(a, rows) for a in op.args)
            if op is not None and op.namespace == "builtins" and op.name == "range":
                return False
        facts = self.facts(iterable)
        if rows:
            return facts.batch_rows or (facts.is_tensor and not facts.maybe_list and not facts.no_batch_axis
                                        and not facts.network_output and not facts.on_host)
        return facts.data_length or facts.batch_rows or (bool(facts.taint) and not facts.shape
                                                         and not facts.python_list and not facts.no_batch_axis)

    def _name(self, name: str) -> Facts:
        facts = self.env.get(name)
        if facts is not None:
            return facts
        if name in ("None", "True", "False"):
            return UNTAINTED
        if name in self.module_ints:
            value = self.module_ints[name]
            return replace(literal_facts(value), batch_constant=bool(_BATCH_NAME.search(name)))
        if _BATCH_SIZE_NAME.match(name):
            return BATCH_SIZE  # a module-level or global batch_size
        if _EPS_NAME.search(name):
            return Facts(guarded=True, nonneg=True, bounded=True)
        return UNTAINTED

    def _is_log_of_score(self, node) -> bool:
        """``log(p)`` of a prediction-derived value not kept below 1: ``-log(p)`` is 0 where p is 1."""
        if not isinstance(node, cst.Call):
            return False
        op = self.op(node)
        if op is None or op.name not in LOG_OPS or not op.args:
            return False
        inner = self.facts(op.args[0])
        return PRED in inner.taint and not inner.nograd and not inner.below_one and not inner.above_one

    def _attribute(self, node: cst.Attribute) -> Facts:
        attr = node.attr.value
        base = node.value
        if isinstance(base, cst.Name) and base.value == "self":
            if f"self.{attr}" in self.env:  # self.y_pred = y_pred earlier in this loss
                return self.env[f"self.{attr}"]
            if _BATCH_SIZE_NAME.match(attr):
                # set from a tensor in another method (``self.batch_size = x.shape[0]``): the real batch
                return replace(BATCH_SIZE, configured_batch=False) if attr in self.runtime_attributes else BATCH_SIZE
            if attr in self.setting_signs:  # self.relax = relax with relax=0.0: a setting keeps its default's sign
                sign = self.setting_signs[attr]
                return Facts(guarded=bool(_EPS_NAME.search(attr)) or sign != 0, nonneg=sign >= 0, nonpos=sign <= 0,
                             negative=sign < 0, bounded=True)
            return Facts(guarded=bool(_EPS_NAME.search(attr)), bounded=True)
        if _LOCAL_BATCH_SIZE_NAME.match(attr) and self._configuration(base):
            # args.batch_size, cfg.TRAIN.BATCH_SIZE, self.hparams.batch_size: the configured size
            # (the last batch of an epoch may be smaller)
            return BATCH_SIZE
        if attr in ("shape", "batch_size"):  # x.shape, tensordict.batch_size (a torch.Size)
            inner = self.facts(base)
            return Facts(shape=True, tensor_shape=inner.is_tensor or inner.batch_shaped, bounded=True,
                         batch_dim_source=_carries_the_batch(inner),
                         batchless_shape=inner.is_tensor and inner.no_batch_axis)
        if attr in ("ndim", "dtype", "device", "rank", "name", "requires_grad", "batch_first", "training") \
                or attr.startswith(("is_", "has_")):
            return UNTAINTED  # metadata and flags (x.is_cuda, lprobs.batch_first): Python values
        if attr in ("T", "mT"):
            inner = self.facts(base)
            return replace(inner, transposed=True, batch_sum=None,
                           batch_axis=_reversed_batch_axis(inner.batch_axis) if attr == "T" else inner.batch_axis)
        if attr in ("newaxis",):
            return UNTAINTED
        if attr in ("saved_tensors", "saved_variables") and isinstance(base, cst.Name) and base.value == "ctx":
            # an autograd Function's backward reads back what its forward saved: the batch's tensors
            return Facts(taint=frozenset({TENSOR}))
        inner = self.facts(base)
        if attr == "values" and inner.max_of:
            return inner  # x.max(dim=1, keepdim=True).values: the maximum itself (torch's named tuple)
        if attr == "data" and inner.is_tensor and not inner.python_list:
            # x.data: the same values, detached (torch's legacy stop-gradient)
            return replace(inner, nograd=True, batch_sum=None, exp_node=None, exp_sum=None)
        if inner.taint:
            if inner.network_output and inner.is_tensor and not attr.startswith("_") \
                    and attr not in _OUTPUT_METADATA and not attr.endswith(("shape", "size", "dim", "dims")):
                # outputs.logits, out.hidden_states: a field of what the network returned (a model
                # output object), a tensor of the step; maybe a tuple (hidden_states)
                return Facts(taint=inner.taint, network_output=True, no_batch_axis=inner.no_batch_axis)
            if attr in _OUTPUT_FIELDS:
                return Facts(taint=inner.taint, no_batch_axis=inner.no_batch_axis)
            if inner.is_tensor and attr not in _TENSOR_DATA_ATTRIBUTES:
                return UNTAINTED  # metadata of a tensor (.op.type, ._keras_mask): a Python value
            return Facts(taint=inner.taint, opaque=inner.opaque)
        if _EPS_NAME.search(attr):
            return Facts(guarded=True, nonneg=True, bounded=True)
        return UNTAINTED

    def _difference_of_whole_sums(self, node) -> bool:
        """``K.sum(y_true) - K.sum(y_pred)``: two sums over the whole batch written side by side (a
        count error of the batch), whose magnitude or square grows with the batch as they do. Only
        of Keras's ``y_true`` and ``y_pred`` as the loss received them: they hold the whole batch
        (a torch helper's ``density.sum() - gt.sum()`` is as often one image's count)."""
        if not (isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Subtract)):
            return False
        sides = (node.left, node.right)
        return all(isinstance(side, cst.Call) and (op := self.op(side)) is not None and op.name in SUM_OPS
                   and len(op.args) == 1 and not op.kwargs and isinstance(op.args[0], cst.Name)
                   and _keras_tensor_name(op.args[0].value)
                   and self._as_received(op.args[0]) for side in sides) \
            and any(self.facts(side).batch_sum is not None for side in sides)

    def _configuration(self, node) -> bool:
        """``args``, ``cfg.TRAIN``, ``self.hparams``, an imported ``config`` module: an object that holds
        the run's settings (a name the loss did not bind to a tensor)."""
        parts = dotted_parts(node)
        if not parts:
            return False
        if parts[0] == "self" and len(parts) >= 2:
            parts = parts[1:]
        elif parts[0] in self.env and self.env[parts[0]].taint:
            return False
        root = parts[0]
        imported = self.imports.aliases.get(root)
        if any(part.lower() in _CONFIG_NAMES for part in parts):
            return True  # args, cfg.TRAIN, tf.flags.FLAGS
        return imported is not None and imported.split(".")[0] not in ARRAY_MODULES \
            and bool(_CONFIG_NAMES & set(imported.lower().split(".")))  # import cfgs; from config import cfg

    def _unary(self, node: cst.UnaryOperation) -> Facts:
        inner = self.facts(node.expression)
        if isinstance(node.operator, cst.Minus):
            literal = -inner.literal if inner.literal is not None else None
            return replace(inner, nonneg=inner.nonpos, nonpos=_nonnegative(inner), literal=literal, at_most_one=False,
                           unit=False, vanishes_at_fit=self._is_log_of_score(node.expression),
                           guarded=(inner.guarded and not inner.taint and literal is not None and literal > 0)
                           or inner.negative, negative=False, exp_node=None, above_one=False, capped=False,
                           below_one=inner.inside_unit,  # -x < 1 only where x > -1
                           kernel_width=-inner.kernel_width,
                           # the bounds turn round: a floor of x is a ceiling of -x
                           floor=(-inner.ceiling[0], inner.ceiling[1]) if inner.ceiling is not None else None,
                           ceiling=(-inner.floor[0], inner.floor[1]) if inner.floor is not None else None)
        if isinstance(node.operator, cst.Not):
            return Facts(taint=inner.taint, boolean=True, opaque=inner.opaque)
        return inner

    def _subscript(self, node: cst.Subscript) -> Facts:
        base = self.facts(node.value)
        elements = node.slice
        if len(elements) == 1 and isinstance(elements[0].slice, cst.Index) \
                and isinstance(elements[0].slice.value, cst.Integer) and elements[0].slice.value.value == "0" \
                and self._torch_values_pair(node.value):
            # torch.min(dist, dim=2)[0]: the values of torch's (values, indices) pair; over dim 0
            # (a multiple-instance bag's max) the batch axis is reduced away
            dim = self.op(node.value).arg(1, "dim")
            if dim is not None and self.facts(dim).literal == 0:
                return replace(base, no_batch_axis=True, batch_sum=None, batch_axis=None)
            return base
        if base.mapping and len(elements) == 1 and isinstance(elements[0].slice, cst.Index):
            # df[0] of a dict the loss filled: one whole entry (a view's tensor, the batch first)
            return replace(base, python_list=False, mapping=False, batch_sum=None, exp_node=None)
        if base.tensor_shape and len(elements) == 1 and isinstance(elements[0].slice, cst.Index):
            index = self.facts(elements[0].slice.value)
            return Facts(shape=True, batch_dim=index.literal == 0 and base.batch_dim_source, bounded=True,
                         feature_count=index.literal is not None and index.literal != 0)
        if base.tensor_shape and len(elements) == 1 and isinstance(elements[0].slice, cst.Slice) \
                and elements[0].slice.lower is not None and elements[0].slice.upper is None \
                and (self.facts(elements[0].slice.lower).literal or 0) >= 1:
            return Facts(shape=True, feature_count=True, bounded=True)  # tf.shape(x)[1:]: one sample's axes
        if base.tensor_shape and len(elements) == 1 and isinstance(elements[0].slice, cst.Slice) \
                and (elements[0].slice.lower is None or self.facts(elements[0].slice.lower).literal == 0) \
                and elements[0].slice.step is None:
            return base  # x.shape[0:2], x.shape[:3]: the leading axes, the batch axis first
        if base.shape:
            return SHAPE
        if (base.grown_list or base.feature_parts or base.tensor_parts) and not base.batch_rows \
                and len(elements) == 1 and isinstance(elements[0].slice, cst.Slice):
            # reps[1:] of a list, splits[:n] of split(x, sizes, dim=1), chunks[1:] of array_split(x, n):
            # a shorter list of the same parts
            return replace(base, batch_sum=None, exp_node=None)
        if base.elements is not None and len(elements) == 1 and isinstance(elements[0].slice, cst.Index) \
                and isinstance(elements[0].slice.value, cst.Integer):
            position = int(elements[0].slice.value.evaluated_value)
            if position < len(base.elements):
                return base.elements[position]  # helper(...)[1]: the second value the helper returns
        if len(elements) == 1 and isinstance(elements[0].slice, cst.Index) \
                and isinstance(elements[0].slice.value, cst.SimpleString) \
                and _BATCH_SIZE_NAME.match(elements[0].slice.value.raw_value):
            # feats["batch_size"]: a batch size kept in a mapping, a count (positive), not a tensor
            return replace(BATCH_SIZE, configured_batch=False)
        if len(elements) == 1 and isinstance(elements[0].slice, cst.Index) \
                and isinstance(elements[0].slice.value, cst.SimpleString) \
                and _SIZE_NAME.search(elements[0].slice.value.raw_value) and _names_settings(node.value):
            # outputs["dn_meta"]["dn_num_group"], cfg["num_classes"]: a count kept in a mapping of
            # settings, a Python number (a batch's inputs["n_tokens"] may well be a tensor)
            return SHAPE
        if len(elements) == 1 and isinstance(elements[0].slice, cst.Index):
            index = self.facts(elements[0].slice.value)
            if _rows_of_a_table(base, index):
                # user_table[users] of an embedding table the model computed (``u, i = self.propagate()``,
                # ``self.user_emb.weight``): one row per sample of the batch of ids, with the table's gradient
                return Facts(taint=index.taint)
            if base.counts_of is not None and self._values_root(elements[0].slice.value) == base.counts_of:
                # histc(t)[t.long()]: each sample's own value counted, so at least 1
                return Facts(taint=index.taint, nonneg=True, guarded=True, own_count=True)
            if _text(node.value) in nonzero_names(index):
                return replace(base, guarded=True, batch_sum=None, exp_node=None)  # den[den > 0]
        expanded = None
        for position, element in enumerate(elements):
            if isinstance(element.slice, cst.Index) and _is_newaxis(element.slice.value):
                expanded = position
                break
        first = elements[0].slice if elements else None
        # parts[1] of split/chunk/dynamic_partition is a whole tensor; x[1] of a tensor is one row
        # x[3]; y_pred[-1, :] (a tuple index, so a tensor; a lone x[-1] is as often the last time
        # step of a time-major output, or the last of a list of outputs)
        drops_batch = isinstance(first, cst.Index) and (
            isinstance(first.value, cst.Integer) or (len(elements) >= 2 and _int_literal(first.value))) \
            and (not base.maybe_list or base.named_tensor or len(elements) >= 2) and not base.tensor_parts \
            and not base.transposed and base.batch_axis is None
        # x[i, :, :]: a tuple index picks one row of a tensor (by an index variable)
        drops_batch = drops_batch or _one_row_slice(first)  # x[b:b + 1]: one sample, its axis kept
        drops_batch = drops_batch or (len(elements) >= 2 and isinstance(first, cst.Index)
                                      and isinstance(first.value, cst.Name) and not _is_newaxis(first.value)
                                      and not self.facts(first.value).is_tensor)
        # pred[i] with ``i`` a loop counter over ``range(B)``, B the batch size: one sample (not a
        # gather by indices, not a head, scale or time step of a tensor whose axis 0 is something else);
        # of a parameter that may be a list (``keypoints_gt[i]``), one sample's entry either way
        drops_batch = drops_batch or (len(elements) == 1 and isinstance(first, cst.Index)
                                      and isinstance(first.value, cst.Name) and self.facts(first.value).sample_index
                                      and not base.transposed and base.batch_axis is None
                                      and not base.python_list and not base.tensor_parts)
        # exp(r)[None, :]: a new axis and whole slices only, still that exp
        widened = all(_is_newaxis(e.slice.value) if isinstance(e.slice, cst.Index) else _whole_slice(e.slice)
                      for e in elements) and any(isinstance(e.slice, cst.Index) for e in elements)
        # centers[labels], memory[idx]: rows of a table gathered by a per-sample index, one per sample
        index_facts = self.facts(first.value) if isinstance(first, cst.Index) else None
        gathered = base.no_batch_axis and index_facts is not None and index_facts.is_tensor \
            and not index_facts.no_batch_axis and not index_facts.python_list
        return replace(base, batch_sum=None, exp_node=base.exp_node if widened else None, expanded_axis=expanded,
                       tensor_shape=False, transposed=False, batch_dim=False, python_list=False, mapping=False,
                       no_batch_axis=(base.no_batch_axis and not gathered) or drops_batch, batch_axis=None)

    # ---- arithmetic ---------------------------------------------------------------------
    def binary(self, symbol: str, left_node, right_node, node=None) -> Facts:
        facts = self._binary(symbol, left_node, right_node, node)
        if symbol == "**" and _text(right_node) in ("2", "2.0") and self._whole_batch_norm(left_node):
            facts = replace(facts, batch_sum=left_node)  # x.norm(2).pow(2): the sum of squares over the batch
        left, right = self.facts(left_node), self.facts(right_node)
        if not facts.on_host and symbol != "@" and any(f.on_host for f in (left, right)) and all(
                f.on_host or (not f.taint and (f.literal is not None or f.shape)) for f in (left, right)):
            facts = replace(facts, on_host=True)  # counts[1] - 1, x.cpu() * 2: still on the host
        if symbol == "**" and _text(right_node) in ("2", "2.0") and left.taint:
            facts = replace(facts, square_of=_text(left_node))  # buffer = pow(x, 2), read by _squares_summed_by
        if symbol == "+" and (summed := next((side.squares_summed for side, other in ((left, right), (right, left))
                                              if side.squares_summed and _positive_offset(other)), None)):
            facts = replace(facts, squares_summed=summed)  # normp = sum(buffer, 1) + eps, also .add_(1e-12)
        if symbol == "**" and _text(right_node) in ("2", "2.0") and (normed := self._row_norm_of(left_node)):
            facts = replace(facts, squared_norms=frozenset({normed}))  # x.norm(dim=1) ** 2
        if symbol in ("+", "-") and (left.squared_norms or right.squared_norms) \
                and _squared_distance_by_hand(left_node, right_node, symbol, self):
            # rx.t() + ry - 2 * x @ y.T with rx, ry the squared norms of x and y: a squared distance
            # (an RBF kernel's exp(-d / s), MMD), >= 0 up to rounding (a side of every such chain
            # holds squared norms, so other sums are not flattened: this runs on every + and -)
            facts = replace(facts, nonneg=True, nonpos=False, squared_distance=True)
        if symbol in ("*", "/", "@"):
            facts = _scaled_squared_distance(symbol, left, right, facts)
        if facts.taint and not facts.nograd and all(f.nograd for f in (left, right) if f.taint):
            facts = replace(facts, nograd=True)  # bandwidth.data / 2 ** k: arithmetic on detached values
        if facts.taint and _all_opaque(left, right):
            facts = replace(facts, opaque=True)
        if symbol != "@" and facts.taint and all(f.no_batch_axis or not f.taint for f in (left, right)):
            facts = replace(facts, no_batch_axis=True)
        if symbol != "@" and facts.is_tensor and not facts.no_batch_axis:
            facts = replace(facts, batch_axis=shared_batch_axis((left, right)))  # (T, B) - (T, B): still (T, B)
        if facts.shape and not facts.configured_batch and (left.configured_batch or right.configured_batch):
            # self.batch_size // self.num_replicas: arithmetic on a configured size stays configured
            facts = replace(facts, configured_batch=True)
        return facts

    def _torch_values_pair(self, node) -> bool:
        """``torch.max(x, dim=1)``, ``x.min(dim=2)``, ``x.max(1)`` in a torch file, ``x.sort(1)``:
        torch's reductions along a dim return (values, indices), so ``[0]`` is not a row."""
        if not isinstance(node, cst.Call):
            return False
        op = self.op(node)
        if op is None or op.name not in _VALUES_INDICES_OPS:
            return False
        dim = op.arg(1, "dim")
        if op.name in ("max", "min") and ("dim" not in op.kwargs and not (
                dim is not None and self.facts(dim).literal is not None and not self.facts(dim).taint)):
            return False  # torch.max(a, b): the elementwise maximum, one tensor
        if op.namespace.startswith("torch"):
            return True
        roots = {qualified.split(".")[0] for qualified in self.imports.aliases.values()}
        return op.is_method and ("dim" in op.kwargs or ("torch" in roots and not roots & {"jax", "tensorflow"}))

    def _masked_out(self, left_node, right_node):
        """``S - S * M`` (``M`` an identity, a mask): the same value as ``S * (1 - M)``, returned as
        that expression (kept alive with the evaluator, whose memo is keyed by id); None for any
        other subtraction."""
        if not (isinstance(right_node, cst.BinaryOperation) and isinstance(right_node.operator, cst.Multiply)):
            return None
        left_text = _text(left_node)
        for own, mask in ((right_node.left, right_node.right), (right_node.right, right_node.left)):
            if _text(own) != left_text:
                continue
            complement = cst.BinaryOperation(
                left=left_node, operator=cst.Multiply(),
                right=cst.BinaryOperation(left=cst.Integer("1"), operator=cst.Subtract(), right=mask))
            self._synthetic.append(complement)
            return complement
        return None

    def _binary(self, symbol: str, left_node, right_node, node=None) -> Facts:
        if symbol == "&":
            left, right = self.facts(left_node), self.facts(right_node)
            return Facts(taint=left.taint | right.taint, boolean=left.boolean and right.boolean, bounded=True,
                         nonzero_also=nonzero_names(left) + nonzero_names(right))
        if symbol == "|" and (left := self.facts(left_node)).boolean and (right := self.facts(right_node)).boolean:
            return Facts(taint=left.taint | right.taint, boolean=True, bounded=True)  # mask |= other_mask
        if symbol == "-" and (complement := self._masked_out(left_node, right_node)) is not None:
            return self.facts(complement)  # S - S * eye: S * (1 - eye), S with its diagonal zeroed
        left, right = self.facts(left_node), self.facts(right_node)
        if symbol in ("-", "|", "^") and (_set_like(left) or _set_like(right)):
            # set(names) - inputs.keys(): Python containers of names, not tensors
            return Facts(taint=left.taint | right.taint, python_list=True, bounded=True)
        if symbol == "+" and any(isinstance(n, (cst.List, cst.ListComp)) for n in (left_node, right_node)) \
                and all(isinstance(n, (cst.List, cst.ListComp)) or f.python_list or (f.maybe_list and not f.named_tensor)
                        for n, f in ((left_node, left), (right_node, right))):
            # outputs["aux_outputs"] + [outputs["pre_outputs"]]: one Python list after another
            return Facts(taint=left.taint | right.taint, python_list=True, maybe_list=True,
                         network_output=left.network_output or right.network_output)
        taint = left.taint | right.taint
        batch_sum = left.batch_sum or right.batch_sum
        both_bounded = left.bounded and right.bounded
        if symbol in ("+", "-") and not both_bounded and (left.bounded or right.bounded) \
                and not (left.taint if right.bounded else right.taint) \
                and not (left.shape or right.shape or left.python_list or right.python_list):
            both_bounded = True  # min_logvar + softplus(...), a bounded value shifted by a fixed one
        shape = (left.shape or not left.taint) and (right.shape or not right.taint) and (left.shape or right.shape)
        if symbol == "+" and ((left.element_count and not right.taint and right.literal is not None)
                              or (right.element_count and not left.taint and left.literal is not None)):
            return replace(left if left.element_count else right, literal=None)  # numel(x) + 1e-8
        if symbol == "+":
            guarded = (_positive_offset(right) and left.taint != EMPTY) or (_positive_offset(left) and right.taint != EMPTY) \
                or (left.guarded and right.nonneg) or (right.guarded and left.nonneg) \
                or (left.guarded and right.guarded) or _adds_own_zero_test(left_node, right_node, left, right) \
                or self._guarded_mix(left_node, right_node)
            # at most a fixed value: a capped, bounded or max-shifted value (``x - max(x)``, with a 0 in
            # every row) plus a constant (``logits + 1e-12``): safe under exp, and its row sums stay >= 1
            capped = not both_bounded and any(
                (a.capped or a.bounded or a.max_shifted) and (b.capped or b.bounded or not b.taint)
                for a, b in ((left, right), (right, left)))
            # probabilities plus a non-negative value (a Dice denominator's ``p + onehot``): the
            # probabilities are positive, so a sum of them over any axis is (not once masked)
            positive_sum = any(a.probability and (b.nonneg or b.boolean) for a, b in ((left, right), (right, left)))
            # max((s - m) * mask) + m: the row maximum shifted back by the minimum it was taken above
            # (not min((s - m) * mask) + m: a masked minimum, its maximum shift added back)
            peak = any(a.peak and (not b.taint or ((b.peak or b.trough) and _shifts_back(a_node, b_node)))
                       for a, b, a_node, b_node in ((left, right, left_node, right_node),
                                                    (right, left, right_node, left_node)))
            # exp(pos - peak) + sum(mask * exp(neg - peak)): an unmasked stabilised term, plus more
            stabilised = any(a.stabilised and (b.stabilised or b.nonneg or b.stabilised_masked)
                             for a, b in ((left, right), (right, left)))
            return Facts(taint=taint, guarded=guarded or stabilised, nonneg=left.nonneg and right.nonneg,
                         positive_terms=positive_sum, peak=peak, stabilised=stabilised,
                         above_one=_above_one(left, right) or _above_one(right, left),
                         nonpos=left.nonpos and right.nonpos, bounded=both_bounded, capped=capped,
                         magnitude=left.magnitude and right.magnitude, scaled=left.scaled or right.scaled,
                         # dr ** 2 + dg ** 2 of differences a fit drives to 0: 0 where both are
                         vanishes_at_fit=left.vanishes_at_fit and right.vanishes_at_fit and left.nonneg
                         and right.nonneg,
                         squared_norms=left.squared_norms | right.squared_norms
                         if left.squared_norms and right.squared_norms else EMPTY,
                         batch_sum=batch_sum, shape=shape, literal=_arith(left, right, symbol),
                         exp_sum=left.exp_sum or right.exp_sum,
                         length=left.length and right.length,  # |a| + |b|: 0 only where both are
                         # norm(a) * norm(b) + 1e-8: still at least |a . b|
                         norm_pair=left.norm_pair if left.norm_pair and _positive_offset(right)
                         else right.norm_pair if right.norm_pair and _positive_offset(left) else EMPTY,
                         python_list=left.python_list and right.python_list,  # list(a) + list(b)
                         # 2 * sum(t * p) + smooth; sum(t) + sum(p) + smooth
                         overlap_of=_kept_by_a_constant(left, right, "overlap_of"),
                         summed=left.summed | right.summed if left.summed and right.summed
                         else _kept_by_a_constant(left, right, "summed"))
        if symbol == "-" and not left.taint and left.literal == 1 and right.complement is not None:
            return right.complement  # 1 - dice_loss with dice_loss = 1 - dice: the dice itself
        if symbol == "-" and left.is_tensor and _text(left_node) == _text(right_node) and _pure(left_node):
            # denom - denom: a value less itself is 0 everywhere (a degenerate branch's placeholder)
            return Facts(taint=taint, nonneg=True, nonpos=True, bounded=True, zero=True, nograd=True)
        if symbol == "-":
            # the prediction against a value of the targets' side only: not against a statistic made
            # of both (``embedding - cluster_mean`` with the mean taken over the masked embeddings)
            error = (TRUE in left.taint and not left.has_grad and PRED in right.taint and right.has_grad) \
                or (PRED in left.taint and left.has_grad and TRUE in right.taint and not right.has_grad) \
                or (left.error and not right.taint) or (right.error and not left.taint)
            thresholded = left.magnitude and not right.taint and not right.shape and right.literal != 0
            stabilised = _is_max_of(right_node, left_node, self) or (
                isinstance(left_node, cst.Name) and left_node.value in right.max_of)
            above_min = _is_max_of(right_node, left_node, self, MIN_REDUCE_OPS)  # x - min(x) >= 0
            peak_shifted = _peak_shift(left_node, left, right)  # scores less a maximum of scores
            # s.sum(1) - s.diag() of non-negative s: the sum of the other entries (self pairs left out)
            above_min = above_min or _sum_less_own_diagonal(left_node, right_node, self) \
                or _correlated_quadratic_form(left_node, right_node, self)
            # exp(s / tau).sum(1) - exp(s_pos / tau): a contrastive denominator less its positive
            # term, the other pairs' exps (a batch of two or more has some), positive
            others = isinstance(right_node, (cst.Name, cst.Subscript)) and _exp_sum_less_a_term(left, right)
            one_minus_clipped = not left.taint and left.literal is not None and left.literal >= 1 and right.below_one
            # 2 - cos(t) >= 1, 1 - tanh(x) >= 0; cos(t) - 2 <= -1
            above_bounded = not left.taint and left.literal is not None and left.literal >= 1 and _at_most_one(right)
            below_constant = _at_most_one(left) and not right.taint and right.literal is not None and right.literal >= 1
            complement = (not left.taint and left.literal == 1 and PRED in right.taint and not right.below_one
                          and not right.nonpos and not right.nograd) \
                or (PRED in left.taint and PRED in right.taint and left.is_tensor and right.is_tensor
                    and not left.nograd and not right.nograd and not _enclosing_extent(left_node, right_node))
            return Facts(taint=taint, error=error, thresholded=thresholded, max_shifted=stabilised,
                         difference=left.is_tensor and right.is_tensor,
                         complement=right if not left.taint and left.literal == 1 and right.taint else None,
                         unit=left.literal == 1 and right.unit, vanishes_at_fit=complement,
                         nonneg=(left.nonneg and right.nonpos) or above_min or above_bounded
                         or _above_one_less_one(left, right) or others,
                         nonpos=(left.nonpos and right.nonneg) or stabilised or below_constant
                         or _focal_exponent(left_node, right_node, self)
                         or _is_max_of(right_node, left_node, self, LOGSUMEXP_OPS),  # x - logsumexp(x)
                         bounded=both_bounded,
                         # max_logvar - softplus(max_logvar - x): at most a fixed value, so exp of it cannot overflow
                         capped=((left.bounded or left.capped or not left.taint) and bool(right.taint | left.taint)
                                 and (_nonnegative(right) or right.bounded or not right.taint) and not both_bounded)
                         or peak_shifted,
                         peak_shifted=peak_shifted,
                         scaled=left.scaled or right.scaled, batch_sum=batch_sum,
                         shape=shape, literal=_arith(left, right, symbol),
                         guarded=(not left.taint and left.literal is not None and left.literal > 0 and right.nonpos)
                         or _above_one_less_one(left, right) or one_minus_clipped or (above_bounded and left.literal > 1)
                         or _positive_plus_sum_less_diagonal(left_node, right_node, self) or others,
                         # 1 - (d > 0).float(): 1 wherever d is 0 (``d + (1 - mask)`` replaces d's zeros)
                         zero_of=right.nonzero_of if not left.taint and left.literal == 1 else None,
                         complement_mask=bool(right.nonzero_of) and not left.taint and left.literal == 1,
                         opaque=_all_opaque(left, right))
        if symbol == "*":
            left_pos, right_pos = _nonnegative(left), _nonnegative(right)
            if any(self._reciprocal_of_a_count(factor) for side in (left_node, right_node)
                   for factor in _product_factors(side)):
                batch_sum = None  # loss * (1.0 / pred.shape[0]), lam * (1 / n) ** 2 * s ** 2: a mean
            scaled = (bool(left.taint) and bool(right.taint)) or (bool(left.taint) and is_factor(right)) \
                or (bool(right.taint) and is_factor(left)) or left.scaled or right.scaled
            if left.literal == 0 or right.literal == 0:
                return Facts(taint=taint, zero=True, bounded=True, nonneg=True, nonpos=True)
            if any(side.literal is not None and not side.taint and 0 < abs(side.literal) <= _NEGLIGIBLE
                   and other.batch_sum is not None for side, other in ((left, right), (right, left))):
                # outputs.sum() * 1e-8: a near-zero placeholder (a degenerate batch's early return
                # that keeps the graph connected), no loss value that grows with the batch
                return Facts(taint=taint, zero=True, bounded=True)
            # (d == 0) * eps keeps saying where d is 0 (see _adds_own_zero_test)
            zero_of = (left.zero_of if not right.taint else None) or (right.zero_of if not left.taint else None)
            per_sample = (left.feature_count or right.feature_count) and all(
                f.feature_count or (not f.taint and f.literal is not None) for f in (left, right))
            if (left.batch_mean is not None and right.batch_dim) or (right.batch_mean is not None and left.batch_dim):
                # loss.mean() * batch_size: the sum over the batch again (``loss *= n`` names the mean)
                batch_sum = batch_sum or node or left.batch_mean or right.batch_mean
            return Facts(taint=taint, scaled=scaled, bounded=both_bounded, unit=left.unit and right.unit, zero_of=zero_of,
                         boolean=left.boolean and right.boolean,  # valid * visible of two masks: a mask
                         gram=(left.gram and not right.taint) or (right.gram and not left.taint),
                         feature_count=per_sample,
                         error=(left.error and not right.taint) or (right.error and not left.taint),
                         magnitude=(left.magnitude and not right.taint) or (right.magnitude and not left.taint),
                         nonneg=(left_pos and right_pos) or (left.nonpos and right.nonpos)
                         or (left.is_tensor and _text(left_node) == _text(right_node) and _pure(left_node)),  # r * r
                         nonpos=(left_pos and right.nonpos) or (left.nonpos and right_pos),
                         guarded=(left.guarded and right.guarded) or (left.guarded and _hyperparameter(right))
                         or (right.guarded and _hyperparameter(left)),  # t * (norm + eps): a temperature
                         batch_energy=(left.batch_energy or left.guarded) and (right.batch_energy or right.guarded)
                         and (left.batch_energy or right.batch_energy),
                         batch_sum=batch_sum, shape=shape,
                         literal=_arith(left, right, symbol),
                         masked_positive=_masks_positive(left, right) or _masks_positive(right, left),
                         # exp(s - peak) * negatives_mask: the stabilised terms, some left out
                         stabilised_masked=((left.stabilised or left.stabilised_masked) and PRED not in right.taint)
                         or ((right.stabilised or right.stabilised_masked) and PRED not in left.taint),
                         unit_weighted=left.unit_weighted or right.unit_weighted,
                         weights_to_one=left.weights_to_one or right.weights_to_one,
                         length=left.length and right.length,  # norm(a) * norm(b): cosine's denominator
                         norm_pair=_norm_pair(left, right),
                         # alpha * (c - |err|) with alpha=2 by default: still at most a fixed value
                         capped=(left.capped and self._positive_factor(right_node, right))
                         or (right.capped and self._positive_factor(left_node, left)),
                         product_operands=frozenset({_text(left_node), _text(right_node)})
                         if left.is_tensor and right.is_tensor and left.taint and right.taint else EMPTY,
                         above_one=left.above_one and right.above_one,  # (1 + c) ** 2 > 1 + c
                         # sigmoid(t - c) * sigmoid(p - c): a product of sigmoids, in (0, 1) as they are (not
                         # of two softmaxes, whose product's row sum is no longer 1 and can underflow)
                         probability=left.probability and right.probability
                         and _a_sigmoid(left_node) and _a_sigmoid(right_node),
                         overlap_of=_kept_by_a_constant(left, right, "overlap_of"),  # 2 * sum(t * p)
                         # exp(risk) * mask: still an unbounded exp (a risk set's terms, summed next)
                         exp_node=_masked_exp(left, right) or _masked_exp(right, left))
        if symbol == "/":
            left_pos, right_pos = _nonnegative(left), _nonnegative(right)
            normalises = right.batch_dim or bool(right.taint) or right.batch_constant or (
                not right.taint and right.literal is None and not right.feature_count)
            scaled = left.scaled or (bool(left.taint) and not right.taint and
                                     (right.literal is None or abs(right.literal) < 1))
            if left.exp_node is not None and right.exp_sum is left.exp_node:
                # exp(x) / sum(exp(x)): a softmax written by hand, probabilities that underflow to 0
                return Facts(taint=taint, nonneg=True, bounded=True, unit=True, at_most_one=True, probability=True)
            # sum(exp(x) * mask) / sum(mask): a mean of exps, still one log-sum-exp by hand under a log
            exp_mean = left.exp_sum if left.exp_sum is not None and _nonnegative(right) and not right.has_grad else None
            # a . b / (|a| |b|): a cosine written by hand, in [-1, 1] (Cauchy-Schwarz)
            cosine = bool(left.inner_pair) and left.inner_pair == right.norm_pair
            # 2 * sum(t * p) / (sum(t) + sum(p)): a Dice coefficient written by hand, in [0, 1]
            dice = len(left.overlap_of) == 2 and left.overlap_of == right.summed  # two tensors, not p * p
            # x / x.norm(dim=1, keepdim=True), x / (norm(x) + eps): each entry in [-1, 1] (normalize by hand)
            unit_rows = bool(left.taint) and self._norm_denominator_of(right_node) == _text(left_node)
            return Facts(taint=taint, scaled=scaled,
                         bounded=(left.bounded and not right.taint) or cosine or dice or unit_rows,
                         at_most_one=cosine,
                         gram=left.gram and not right.taint,  # x.T @ x / n
                         error=left.error and not right.taint, magnitude=left.magnitude and not right.taint,
                         nonneg=(left_pos and right_pos) or (left.nonpos and right.nonpos),
                         nonpos=(left.nonpos and right_pos) or (left_pos and right.nonpos),
                         # (x + eps) / y, clip(i, eps, ...) / union: a floored numerator over a value >= 0
                         # is > 0 (or inf where y is 0: the division's own finding, made for a y with the
                         # prediction's gradient; of a y without, the log stays the place to report)
                         guarded=left.guarded and (right.guarded or (right_pos and right.has_grad)),
                         batch_sum=None if normalises else left.batch_sum, shape=shape,
                         literal=_arith(left, right, symbol),
                         exp_sum=exp_mean,
                         unit_weighted=left.unit_weighted or right.own_count or (right.element_count and left.is_tensor)
                         # loss / len(loss), loss /= pred.size(0): every sample's terms over the batch size,
                         # so their full sum is a mean over the batch, as ``loss.sum() / B`` is (not
                         # for a product of batch tensors, ``z @ z.T``)
                         or (right.batch_dim and not right.taint and left.is_tensor and not left.no_batch_axis
                             and left.inner is None)
                         or _divides_by_own_sum(left_node, right_node, self)
                         # per_sample / lbl.sum(): each sample's terms over a whole-batch sum of the
                         # target (its positives, its weights), which grows with the batch as a count
                         or (left.is_tensor and not left.no_batch_axis and right.target_total)
                         or (left.is_tensor and _names_a_normaliser(right_node) and right.literal is None
                             and (right.no_batch_axis if right.is_tensor else isinstance(right_node, cst.Name))))
        if symbol == "**":
            even = right.literal is not None and float(right.literal).is_integer() and int(right.literal) % 2 == 0
            grows = right.literal is None or right.literal >= 1
            # (1 - rho ** 2) ** -0.5 of a value in [0, 1]: at least 1 (inf at 0 is the division's finding)
            inverse_of_unit = left.unit and right.literal is not None and right.literal < 0 and not right.taint
            # x ** k with k a tensor the loss computes with gradient (a predicted Weibull shape): a real
            # power of such an exponent is defined only for a base that is not negative (NaN
            # otherwise), so it is >= 0 and exp(-(t / scale) ** k), a survival function, is at most
            # 1 (not an exponent of the data or a rounded one: an integer power keeps a sign)
            tensor_exponent = right.has_grad and right.literal is None
            return Facts(taint=taint, nonneg=left.nonneg or even or inverse_of_unit or tensor_exponent,
                         scaled=bool(left.taint) and grows,
                         below_one=left.inside_unit and even,  # cos**2 of a cosine clipped inside (-1, 1)
                         magnitude=(left.error or left.magnitude) and grows and not right.taint,
                         vanishes_at_fit=left.vanishes_at_fit and right.literal is not None and right.literal > 0,
                         bounded=(left.bounded and not right.taint) or (left.unit and not right.nonpos),
                         unit=(left.unit or (left.signed_unit and even)) and not right.nonpos,
                         guarded=left.guarded or inverse_of_unit,
                         above_one=left.above_one and not right.taint and right.literal is not None
                         and right.literal >= 1,  # (1 + c) ** k, k >= 1
                         # (norm(a) * norm(b)) ** 2: a power of a length is 0 only where the length is
                         length=left.length and not right.taint and right.literal is not None and right.literal > 0,
                         batch_sum=left.batch_sum, shape=shape)
        if symbol == "@":
            # a product of positive matrices (kernels exp(-C)) is positive: each entry sums positive terms
            covariances = all(_COVARIANCE_NAME.search(_text(n)) for n in (left_node, right_node))
            inner, operands = None, EMPTY
            if left.is_tensor and right.is_tensor and right.transposed and not left.transposed:
                inner = "self" if _text(left_node) == _text(_transposed_base(right_node)) else "cross"
                operands = frozenset({_text(left_node), _text(_transposed_base(right_node))})
            return Facts(taint=taint, bounded=both_bounded, scaled=bool(left.taint) and bool(right.taint),
                         inner=inner, inner_operands=operands,
                         # x.T @ x: the batch axis contracted, a data covariance (not r @ s @ r.T per sample)
                         gram=left.is_tensor and right.is_tensor and left.transposed and not right.transposed
                         and not covariances,
                         batch_sum=batch_sum,
                         # (or a product of values with no batch axis: one trajectory's steps)
                         no_batch_axis=(left.transposed and not right.transposed)
                         or (left.is_tensor and all(f.no_batch_axis or not f.taint for f in (left, right))),
                         guarded=left.guarded and right.guarded and left.nonneg and right.nonneg,
                         nonneg=left.nonneg and right.nonneg,
                         # norms[:, None] @ norms[None, :]: the outer product of lengths, a cosine's denominator
                         length=left.length and right.length,
                         norm_pair=_norm_pair(left, right), inner_pair=operands,
                         # riskset @ exp(risk): sums of exps picked by a mask (a Cox risk set's log-sum-exp)
                         exp_sum=(right.exp_node if right.exp_node is not None and not left.has_grad else None)
                         or (left.exp_node if left.exp_node is not None and not right.has_grad else None))
        return Facts(taint=taint, shape=shape, batch_sum=batch_sum)

    def _values_root(self, node) -> str | None:
        """The name whose values ``node`` holds: ``t`` for ``t``, ``t.long()`` or a name bound to it."""
        facts = self.facts(node)
        if facts.values_of is not None:
            return facts.values_of
        return node.value if isinstance(node, cst.Name) else None

    # ---- calls --------------------------------------------------------------------------
    def _call(self, node: cst.Call) -> Facts:
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "type" and not node.args:
            return UNTAINTED  # x.type(): torch's name of its type ("torch.FloatTensor"), a string
        if terminal_name(node.func) in ("dict", "OrderedDict", "defaultdict") and not (
                isinstance(node.func, cst.Name) and node.func.value in self.env) \
                and all(a.keyword is None and not self.facts(a.value).taint for a in node.args):
            return EMPTY_MAPPING  # df = dict(), collections.OrderedDict(), defaultdict(list): filled entry by entry
        facts = self._call_facts(node)
        op = self.op(node)
        pair = _outer_operands(op)
        if pair is not None and all(self.facts(a).norm_of for a in pair):
            # outer(|a|, |b|), einsum("i,j->ij", |a|, |b|): a cosine matrix's denominator, 0 only
            # where a length is (judged on real code, the einsum form's division by raw lengths
            # is still reported: two of three such findings were judged true)
            facts = replace(facts, norm_pair=_norm_pair(self.facts(pair[0]), self.facts(pair[1])), nonneg=True,
                            length=op.name != "einsum" and all(self.facts(a).length for a in pair))
        if op is not None and op.args and (op.name in LAYOUT_OPS or op.name in _SHAPE_ONLY_OPS
                                           or op.name in ("reshape", "view", "numpy", "detach")
                                           or (op.is_method and op.name in _INTEGER_METHODS)):
            facts = replace(facts, values_of=self._values_root(op.args[0]))  # t.long(): t's values
        if op is not None and op.is_method and op.args and not facts.python_list and (facts.taint or (
                op.name == "bool" and not self.facts(op.args[0]).shape)) and (  # tril(ones(...)).bool(): a mask too
                op.name == "bool" or (op.name == "to" and any(_text(a) in ("torch.bool", "bool")
                                                              for a in (*op.args[1:], *op.kwargs.values())))
                or (op.name in ("view", "reshape", "flatten", "squeeze", "unsqueeze", "contiguous", "triu", "tril",
                                "logical_not", "expand", "expand_as", "repeat")
                    and self.facts(op.args[0]).boolean)):
            facts = replace(facts, boolean=True)  # valid.bool(), m.to(torch.bool), mask.view(-1): a mask
        elif op is not None and op.args and op.name in _VALUE_COUNT_OPS:
            facts = replace(facts, counts_of=self._values_root(op.args[0]), nonneg=True)
        if facts.taint and not facts.no_batch_axis and op is not None and op.args:
            inputs = [self.facts(a) for a in op.args]
            tainted = [f for f in inputs if f.taint]
            if tainted and all(f.no_batch_axis for f in tainted):
                facts = replace(facts, no_batch_axis=True)  # diag(cov), square(cov): still D x D
        if op is not None and op.name in ELEMENTWISE_OPS and facts.is_tensor and not facts.no_batch_axis:
            # where(c, a, b), abs(d) of a (T, B) value: still (T, B)
            facts = replace(facts, batch_axis=shared_batch_axis(
                [self.facts(a) for a in op.args if not isinstance(a, (cst.List, cst.Tuple))]))
        moves = op is not None and _moves_to_a_device(op) and not self._device_of_a_host_value(op)
        if op is not None and op.is_method and op.args and not facts.on_host and not moves \
                and self.facts(op.args[0]).on_host:
            facts = replace(facts, on_host=True)  # x.cpu().bool().sum(1): still a host tensor
        if op is not None and not op.is_method and not facts.on_host and op.namespace == "torch" \
                and op.name in _TENSOR_CONSTRUCTORS and not moves and op.args \
                and all(self._python_valued(a) or self.facts(a).on_host for a in _argument_nodes(op.args)) \
                and not (op.name.endswith("_like") and not all(self.facts(a).on_host for a in op.args[:1])):
            # torch.as_tensor(x.shape[:1]), torch.tensor([1, 2]): made from Python values on the host
            # (torch.tensor(0.0) keeps its number: a floor at 0 is no guard)
            number = self.facts(op.args[0]).literal if op.name in ("tensor", "as_tensor") else None
            facts = replace(facts, on_host=True, literal=number if number is not None else facts.literal)
        if op is not None and not op.is_method and not facts.on_host and op.args \
                and op.namespace.split(".")[0] == "torch" and not moves:
            inputs = _argument_nodes(op.args)
            if any(self.facts(a).on_host for a in inputs) \
                    and all(self.facts(a).on_host or self._python_valued(a) for a in inputs):
                facts = replace(facts, on_host=True)  # torch.unique(x.cpu()): computed on the host, stays there
        if op is not None and not op.is_method and op.namespace == "numpy" and facts.taint and not moves \
                and not facts.on_host and PRED not in facts.taint:
            # np.unique(labels): a numpy array on the host (the copy into numpy, where a tensor
            # is given, is the call's own finding); Python tests on its values read no device.
            # Of a prediction or a loss value it stays as before: a test of it is the sync reported
            facts = replace(facts, on_host=True)
        if facts.on_host and moves:
            facts = replace(facts, on_host=False)  # as_tensor(counts, device=pred.device), counts.type_as(pred)
        if op is not None and not op.is_method and op.name in NONNEG_LOSS_FUNCTIONS and facts.taint \
                and not facts.nonneg:
            facts = replace(facts, nonneg=True, nonpos=False)  # exp(-cross_entropy(...)) is at most 1
        if op is not None and not op.is_method and op.namespace.split(".")[0] in ("torch", "torchvision") \
                and op.name.endswith(("_loss", "cross_entropy", "kl_div", "_with_logits")) and _sums_by_keyword(op) \
                and facts.batch_sum is None:
            prediction = op.arg(0, "input")
            inputs = [self.facts(prediction)] if prediction is not None else []
            # F.binary_cross_entropy_with_logits(x, t, w / w.sum(), reduction="sum"): weights of
            # every element, the batch's included, that sum to one make the sum a weighted mean (not
            # the class weights of cross_entropy or nll_loss, nor weights without the batch axis:
            # summed with reduction="sum", each sample still adds its class's weight)
            weight = op.arg(2, "weight") if op.name.startswith("binary_cross_entropy") else None
            weight_facts = self.facts(weight) if weight is not None else None
            if weight_facts is not None and weight_facts.unit_weighted and weight_facts.is_tensor \
                    and not weight_facts.no_batch_axis:
                inputs = []
            if any(f.is_tensor and not f.no_batch_axis for f in inputs):
                # F.mse_loss(x_hat, x, reduction="sum"): one number, the sum over the batch
                facts = replace(facts, batch_sum=node, no_batch_axis=True, batch_axis=None)
        return facts

    def _guarded_mix(self, left_node, right_node) -> bool:
        """``t * p + (1 - t) * (1 - p)`` (focal loss's p_t) of a weight ``t`` in [0, 1] (a label,
        a mask, a probability) and two values floored above 0: a convex mix of them, floored too."""
        left, right = _two_factors(left_node, self), _two_factors(right_node, self)
        if left is None or right is None:
            return False
        for weight, value in (left, left[::-1]):
            for complement, other in (right, right[::-1]):
                if not (isinstance(complement, cst.BinaryOperation) and isinstance(complement.operator, cst.Subtract)
                        and _text(complement.left) in ("1", "1.0", "1.") and _text(complement.right) == _text(weight)):
                    continue
                mixing = self.facts(weight)
                in_unit = mixing.boolean or mixing.probability or _at_most_one(mixing) and mixing.nonneg \
                    or (mixing.taint == frozenset({TRUE}))
                if in_unit and self.facts(value).guarded and self.facts(other).guarded:
                    return True
        return False

    def _python_valued(self, node) -> bool:
        """A Python value a tensor can be made from on the host: a number, a shape, a list or tuple
        of them, or a name that says it holds a size or a count (``batch_shape``, ``num_segments``);
        not a module's buffer or parameter (``self.counts``), nor a tensor argument."""
        facts = self.facts(node)
        if facts.taint and not facts.shape:
            return False
        if facts.shape or facts.literal is not None or isinstance(node, (cst.Integer, cst.Float)):
            return True
        if isinstance(node, (cst.List, cst.Tuple)):
            return all(self._python_valued(e.value) for e in node.elements)
        if isinstance(node, cst.UnaryOperation):
            return self._python_valued(node.expression)
        if isinstance(node, cst.Call) and not node.args:
            node = node.func  # index.batch_shape(): a method named for a size
        name = node.value if isinstance(node, cst.Name) else node.attr.value if isinstance(node, cst.Attribute) else ""
        return _SIZE_NAME.search(name) is not None

    def _device_of_a_host_value(self, op) -> bool:
        """``device=counts.device`` with ``counts`` on the host: it stays there."""
        device = op.kwargs.get("device")
        return isinstance(device, cst.Attribute) and device.attr.value == "device" \
            and self.facts(device.value).on_host

    def _tensor_operand(self, node) -> bool:
        """A tensor, not a dimension: ``1e-8 * torch.ones(x.shape)``, ``torch.tensor(eps)``, ``y``
        (``torch.max(x, 1)`` reduces over axis 1; ``torch.max(x, other)`` compares entries)."""
        if node is None:
            return False
        facts = self.facts(node)
        op = self.op(node) if isinstance(node, cst.Call) else None
        if op is not None and op.name in _TENSOR_CONSTRUCTORS | {"new_tensor", "new_full", "new_ones"}:
            return True  # torch.tensor(eps, device=x.device), x.new_tensor(eps)
        if op is not None and op.is_method and op.args and _moves_to_a_device(op):
            return self._tensor_operand(op.args[0])  # torch.tensor(eps).to(x.device)
        if isinstance(node, cst.Integer) or facts.shape or (
                facts.literal is not None and not facts.on_host and float(facts.literal).is_integer()):
            return False  # torch.max(x, 1), torch.max(x, dim): a reduction (torch.tensor(eps) is a tensor)
        if facts.literal is not None:
            return True  # eps = torch.tensor(1e-12).to(device): a number no dim can be
        if isinstance(node, cst.BinaryOperation):  # 1e-8 * torch.ones(...), not x.dim() - 1
            return self._tensor_operand(node.left) or self._tensor_operand(node.right)
        return facts.made_tensor or facts.is_tensor or facts.on_host

    def _call_facts(self, node: cst.Call) -> Facts:
        facts = self._call_facts_unguarded(node)
        if self.guarded_texts and not facts.guarded and _text(node) in self.guarded_texts:
            return replace(facts, guarded=True)
        return facts

    def _call_facts_unguarded(self, node: cst.Call) -> Facts:
        if _flag_lookup(node):
            return UNTAINTED  # options.get("scaled", False): a flag or a number from a mapping
        criterion = _self_attribute(node.func)
        if criterion is None and isinstance(node.func, cst.Name):
            criterion = LOCAL_CRITERION + node.func.value  # mse(pred, target), mse = nn.MSELoss(...) here
        # nn.L1Loss(reduction="sum")(pred, target): a criterion built where it is called
        inline = inline_criterion(node.func) if isinstance(node.func, cst.Call) else None
        if inline is not None:
            criterion = INLINE_CRITERION
            summed, distance, mean, unreduced = criteria_by_reduction({criterion: inline})
        else:
            summed, distance, mean = self.summed_criteria, self.distance_criteria, self.mean_criteria
            unreduced = self.unreduced_criteria
        if criterion in summed and node.args and not _given_sample_weights(node):
            # self.mse(pred, target) with self.mse = nn.MSELoss(reduction="sum"): a sum over the batch
            # (given sample weights, the weights set the scale: RetinaNet's divided by the positives)
            inputs = [self.facts(a.value) for a in node.args]
            if any(f.is_tensor and not f.no_batch_axis for f in inputs):
                return Facts(taint=_union(inputs), nonneg=True, batch_sum=node)
        if criterion in self.bounded_modules and node.args:
            # self.cos(a, b) with self.cos = nn.CosineSimilarity(): in [-1, 1]; self.sigmoid(x) with
            # self.sigmoid = nn.Sigmoid(): what torch.sigmoid(x) gives
            inputs = [self.facts(a.value) for a in node.args]
            activation = _ACTIVATION_MODULES.get(self.bounded_modules[criterion])
            if activation is not None and len(inputs) == 1 and inputs[0].is_tensor:
                # elementwise: the input's layout kept (a mean over the batch stays one row)
                return replace(_bounded_op_facts(activation, inputs[0]), no_batch_axis=inputs[0].no_batch_axis,
                               batch_axis=inputs[0].batch_axis)
            if any(f.is_tensor for f in inputs):
                return Facts(taint=_union(inputs), bounded=True)
        if criterion in distance and len(node.args) >= 2:
            # self.mse(pred, target) with self.mse = nn.MSELoss(): a mean distance, 0 at a perfect
            # fit; with reduction="none", the same per element (the batch axis kept)
            inputs = [self.facts(a.value) for a in node.args]
            if any(f.is_tensor for f in inputs):
                averaged = distance[criterion] == "mean"
                return Facts(taint=_union(inputs), nonneg=True, no_batch_axis=averaged,
                             batch_mean=node if averaged and any(f.is_tensor and not f.no_batch_axis for f in inputs)
                             else None)
        if criterion in unreduced and node.args:
            # self.ce(logits, labels) with reduction="none": one loss per sample, the batch axis kept
            inputs = [self.facts(a.value) for a in node.args]
            if any(f.is_tensor and f.has_grad for f in inputs):
                return Facts(taint=_union(inputs), no_batch_axis=all(f.no_batch_axis for f in inputs if f.is_tensor))
        if criterion in mean and node.args:
            # self.kl(p, q) with self.kl = nn.KLDivLoss(reduction="batchmean"): one number, the batch mean
            inputs = [self.facts(a.value) for a in node.args]
            if any(f.is_tensor and not f.no_batch_axis for f in inputs):
                return Facts(taint=_union(inputs), no_batch_axis=True, batch_mean=node)
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "as_list" and not node.args:
            shape = self.facts(node.func.value)
            if shape.shape:
                return shape  # x.get_shape().as_list(): the static shape as a Python list
        op = self.op(node)
        if op is None:
            return self._unknown_call(node)
        name = op.name
        if reducing_loss_class(op):
            return Facts(reduced_loss=True)  # bce = BinaryCrossentropy(): its calls return one number
        if name in HOST_VALUE_OPS and (op.is_method or op.namespace in ("keras.backend", "keras.ops")):
            return HOST_COPY  # a Python value on the host (the sync itself is BSG701's business)
        if (name == "cpu" and op.is_method and op.args) or copies_to_the_cpu(op):
            return replace(self.facts(op.args[0]), on_host=True)  # a host copy: later .numpy() adds no sync
        if op.namespace == "numpy" and op.args and all(self.facts(a).on_host or not self.facts(a).taint
                                                       for a in op.args):
            return HOST_COPY  # numpy on host values: a host array
        first = self.facts(op.args[0]) if op.args else UNTAINTED
        if name in ("max", "min") and op.namespace == "torch" and op.args:
            other = op.args[1] if len(op.args) == 2 and not op.kwargs else \
                op.kwargs.get("other") if len(op.args) == 1 and set(op.kwargs) == {"other"} else None
            if self._tensor_operand(other):  # torch.max(x, other): elementwise, not over a dim
                name, op = ("maximum" if name == "max" else "minimum"), replace(op, args=[op.args[0], other], kwargs={})
        if name in _TREE_LEAVES and not op.is_method and op.namespace.split(".")[0] in ("jax", "tree", "optree") \
                and (name.startswith("tree_") or "tree" in op.namespace):
            return Facts(taint=first.taint, python_list=True, maybe_list=True)  # jax.tree_leaves(params): the leaves
        if op.namespace == "builtins":
            return self._builtin(op, first)
        branches = _cond_branches(op)
        if branches is not None:
            # tf.cond(is_nan(m), lambda: 0.0, lambda: m): the value of one branch, not of the test
            joined = _join(self.facts(branches[0]), self.facts(branches[1]))
            test = self.facts(op.args[0])
            if test.nonzero_of is not None:
                # tf.cond(num_pos > 0, lambda: (pos + neg) / num_pos, lambda: neg): the sum in the
                # no-positives fallback is not the loss's batch sum (as for an ``if``-expression)
                joined = replace(joined, batch_sum=self.facts(branches[0]).batch_sum)
            elif test.zero_of is not None:
                joined = replace(joined, batch_sum=self.facts(branches[1]).batch_sum)
            return joined
        if name in ("squeeze_or_expand_to_same_rank",):
            return replace(first, exp_node=None)
        if op.namespace.startswith("keras.losses") and name in KERAS_PER_SAMPLE_LOSSES and len(op.args) >= 2:
            # keras.losses.mean_squared_error(y_true, y_pred): per sample, >= 0, 0 at a perfect fit
            inputs = [self.facts(a) for a in op.args[:2]]
            if any(f.is_tensor for f in inputs):
                return Facts(taint=_union(inputs), nonneg=True)
        if name == "grad" and op.namespace.endswith("autograd"):
            # torch.autograd.grad(outputs, inputs, create_graph=True): the gradients, per input
            # (a gradient penalty differentiates them again)
            return Facts(taint=frozenset({PRED}), python_list=True, maybe_list=True)
        if name == "gradients" and op.namespace == "tensorflow":
            # tf.gradients(ys, xs): one gradient per x, in a Python list
            return Facts(taint=frozenset({PRED}), python_list=True, maybe_list=True)
        if not in_tensor_namespace(op):
            if re.search("clip|clamp", name.lower()) and not op.is_method and any(_an_epsilon(a) for a in op.args[1:]):
                # from .util import get_clip; get_clip(y_pred, y_true, smooth): floored by the epsilon
                return Facts(taint=self._opaque(list(op.args)).taint, bounded=True, guarded=True, nonneg=True)
            if _BOUNDING_NAME.search(name.lower()) and op.args and not op.is_method \
                    and not re.search("clip|clamp", name.lower()):  # (a clip from an unresolved tf stays opaque)
                # from mypkg.utils import l2_normalize: a function named for bounding its input
                # keeps the tensor (rows and all), bounded (as an unresolved one does, _unknown_call)
                return Facts(taint=self._opaque(list(op.args)).taint, bounded=True)
            if _DISTANCE_NAME.match(name.lower()) and op.args and not op.is_method \
                    and op.namespace.split(".")[0] not in _HOST_ARRAY_LIBRARIES \
                    and not any(self.facts(a).on_host for a in op.args):
                # from .pairwise_loss import pairwise_distance: a distance of the tensors it is given,
                # >= 0 (as an unresolved one is, _unknown_call); not scipy's cdist of host arrays
                return Facts(taint=self._opaque(list(op.args)).taint, nonneg=True)
            return self._opaque([*op.args, *op.kwargs.values()])
        if name in EPSILON_FUNCTIONS:
            return Facts(guarded=True, nonneg=True, bounded=True, literal=1e-7)
        if name in SHAPE_OPS:
            return Facts(shape=True, tensor_shape=first.is_tensor or first.batch_shaped, bounded=True,
                         batch_dim_source=_carries_the_batch(first),
                         batchless_shape=first.is_tensor and first.no_batch_axis)
        if name in ("prod", "reduce_prod") and first.feature_count:
            return Facts(shape=True, feature_count=True, bounded=True)  # prod(shape[1:]): one sample's size
        if name in SIZE_OPS:
            axis = op.arg(1, "dim")
            if op.is_method and axis is not None:
                literal = self.facts(axis).literal
                return Facts(shape=True, batch_dim=literal == 0 and (first.is_tensor or first.batch_shaped)
                             and _carries_the_batch(first), bounded=True,
                             feature_count=literal is not None and literal != 0 and first.is_tensor)
            if name == "size" and op.is_method and len(op.args) == 1 and not op.kwargs:
                # x.size(): torch's shape, as x.shape (x.size()[0] is the batch size)
                return Facts(shape=True, tensor_shape=first.is_tensor or first.batch_shaped, bounded=True,
                             batch_dim_source=_carries_the_batch(first),
                             batchless_shape=first.is_tensor and first.no_batch_axis)
            # numel(gt): every entry of a batch tensor, the batch size times one sample's size
            return Facts(shape=True, bounded=True, guarded=True,
                         element_count=first.is_tensor and _carries_the_batch(first))
        if name == "linear" and op.namespace.startswith("torch") and len(op.args) == 2 and not op.kwargs:
            # F.linear(x, W) is x @ W.T (no bias): of normalised rows, cosines in [-1, 1]
            return self.binary("@", op.args[0], op.args[1])
        if name in BINARY_OPS and len(op.args) >= 2:
            facts = self.binary(BINARY_OPS[name], op.args[0], op.args[1], op.node)
            flags = {key: _text(value) == "True" for key, value in op.kwargs.items()}
            if flags.get("transpose_a") or flags.get("adjoint_a"):
                # matmul(za, zb, transpose_a=True): (D, B) @ (B, D), the batch is contracted (D x D)
                facts = replace(facts, no_batch_axis=not (flags.get("transpose_b") or flags.get("adjoint_b")))
            if name == "tensordot" and self._contracts_batch(op):
                facts = replace(facts, no_batch_axis=True)
            return facts
        if name == "Variable" and op.namespace.endswith("autograd") and op.args:
            return first  # torch.autograd.Variable(x, requires_grad=True): x itself
        if (name in ("Variable", "get_variable") and op.namespace.split(".")[0] in ("tensorflow", "keras")
                or name == "Parameter" and op.namespace.startswith("torch")) and first.taint \
                and isinstance(op.args[0], cst.Call) and terminal_name(op.args[0].func) in _INITIALISERS:
            # tf.Variable(tf.random_normal(shape=w_shape)): a weight made from a shape, one per
            # entry of that weight, no batch axis (whatever shape it copied)
            return replace(first, no_batch_axis=True, batch_sum=None)
        if name == "einsum" and op.args and isinstance(op.args[0], cst.SimpleString):
            return self._einsum(op)
        if name in STOP_OPS:
            return first  # gradient ends here: see _gradient_flow
        if op.is_method and name == "new_tensor":
            # x.new_tensor([w, h, w, h]): a tensor made from the data given, on x's device
            data_node = op.args[1] if len(op.args) > 1 else None
            data = self.facts(data_node) if data_node is not None else UNTAINTED
            listed = isinstance(data_node, (cst.List, cst.Tuple))  # new_tensor([w, h, w, h]): a few numbers
            return replace(data, python_list=False, elements=None, made_tensor=not data.taint,
                           no_batch_axis=data.no_batch_axis or not data.taint or listed)
        if op.is_method and name in ("new_zeros", "new_ones", "new_full", "new_empty"):
            return Facts(bounded=True, guarded=name == "new_ones", nonneg=name in ("new_zeros", "new_ones"),
                         made_tensor=True)
        if name in ("unique", "unique_consecutive"):
            # the distinct values (instance ids, classes present): no longer one row per sample
            return Facts(taint=first.taint, no_batch_axis=True)
        if name in EXPAND_OPS:
            axis = op.arg(1, "axis", "dim")
            axis_value = self.facts(axis).literal if axis is not None else None
            return replace(first, expanded_axis=int(axis_value) if axis_value is not None else None,
                           batch_sum=None, exp_node=first.exp_node,  # exp(r).unsqueeze(0): still that exp
                           batch_axis=_expanded_batch_axis(first.batch_axis, axis_value))
        if name in TRANSPOSE_OPS:
            perm = op.arg(1, "perm", "axes", "dim0")
            full = perm is None or (op.is_method and name == "t")
            expanded = first.expanded_axis
            batch_axis = _reversed_batch_axis(first.batch_axis) if full and name in ("transpose", "t") \
                else first.batch_axis
            if name == "transpose" and len(op.args) == 3:
                # torch.transpose(b, 1, 0) / b.transpose(0, 1): swapping the batch axis with the next
                pair = (self.facts(op.args[1]).literal, self.facts(op.args[2]).literal)
                full = full or set(pair) == {0, 1}
                expanded = _swapped_axis(expanded, pair)
                batch_axis = _swapped_batch_axis(first.batch_axis, pair)
            elif perm is not None and name == "transpose":
                order = _literal_axes(perm, self)
                batch_axis = _permuted_batch_axis(first.batch_axis, order) if order else None
            return replace(first, transposed=full, batch_sum=None, exp_node=None, expanded_axis=expanded,
                           batch_axis=batch_axis)
        if name in ("permute", "moveaxis", "movedim", "swapaxes", "swapdims") and first.taint:
            return replace(first, batch_sum=None, exp_node=None, transposed=self._swaps_two_axes(op),
                           expanded_axis=None, batch_axis=self._reordered_batch_axis(op, first))
        if name in ("reshape", "view"):
            return replace(first, transposed=False, expanded_axis=self._column_or_row(op), exp_node=first.exp_node,
                           batch_sum=None, batch_axis=_folded_batch_axis(op, first.batch_axis, self),
                           two_axes=_two_dims(op))
        if name == "batch_flatten" or (name == "flatten" and _text(op.arg(1, "start_dim") or cst.Name("x")) == "1"):
            return replace(first, transposed=False, exp_node=None, batch_sum=None, batch_axis=None, two_axes=True)
        if name in _FROM_DATA_OPS and first.python_list and first.grown_list and first.batch_rows \
                and first.taint and not first.normalised_entries:
            # tf.convert_to_tensor(losses) of one entry per sample, appended in a loop over the
            # batch: as tf.stack of it, the batch is the new axis 0
            return replace(first, no_batch_axis=False, batch_axis=(0, None), python_list=False, batch_rows=False,
                           transposed=False, expanded_axis=None, exp_node=None, elements=None, maybe_list=False)
        if name in LAYOUT_OPS:
            # x.t().contiguous() is still the transpose; cast(exp(x)) is still exp(x)
            return replace(first, exp_node=first.exp_node if name in _SHAPE_ONLY_OPS else None)
        if name in ("cumsum", "cumulative_sum") and first.exp_node is not None:
            # running sums of exp of an unbounded argument: log(cumsum(exp(x))) is a log-sum-exp by hand
            return replace(first, transposed=False, expanded_axis=None, exp_node=None, exp_sum=first.exp_node)
        if name in ("cumsum", "cumulative_sum") and (first.peak_one or first.probability):
            # running sums of exp(x - max x) or of probabilities: positive by construction, as
            # their full sums are (a reverse cumsum of exp terms is ListMLE's normaliser)
            return replace(first, transposed=False, expanded_axis=None, exp_node=None, guarded=True,
                           probability=False)
        if name in _LOOKUP_INDEX and not first.taint:
            # tf.gather(centers, labels): rows of a table picked by the batch's labels have the
            # batch axis; they carry the labels' taint (no gradient comes from the targets' side)
            position = 2 if op.namespace.startswith("torch") or (op.is_method and name == "gather") \
                else _LOOKUP_INDEX[name]
            index = op.arg(position, "indices", "index", "ids")
            indices = self.facts(index) if index is not None else None
            if indices is not None and indices.is_tensor and not indices.no_batch_axis and not indices.python_list:
                return Facts(taint=indices.taint)
        if name == "pad" and first.is_tensor and not first.python_list and not _copies_edges(op):
            # F.pad(g, (1, 1)), tf.pad(x, p, constant_values=c): the values and a fill joined to them
            # (0 by default: no longer floored above 0, whatever the values were)
            fill = op.arg(3, "value", "constant_values")
            filled = self.facts(fill) if fill is not None else Facts(literal=0)
            number = filled.literal if not filled.taint else None
            return replace(first, transposed=False, expanded_axis=None, exp_node=None, batch_axis=None, batch_sum=None,
                           nonneg=first.nonneg and number is not None and number >= 0,
                           nonpos=first.nonpos and number is not None and number <= 0,
                           guarded=first.guarded and number is not None and number > 0,
                           bounded=first.bounded and number is not None, zero=False, probability=False)
        if name in _POOLING_OPS and first.is_tensor and not first.python_list:
            # avg_pool2d(|grad|), max_pool(p): local means and maxima of the values keep their range
            # facts (sign, floor, bounds), as a reshape does
            return replace(first, transposed=False, expanded_axis=None, exp_node=None, batch_axis=None, batch_sum=None)
        if name in PASS_THROUGH_OPS:
            if name in ("diag", "diagonal", "diag_part") and first.inner == "self":
                return replace(first, nonneg=True, inner=None, inner_operands=EMPTY, transposed=False,
                               expanded_axis=None, exp_node=None, batch_axis=None,
                               squared_norms=first.inner_operands)  # diag(x @ x.T): the squared norms
            if name in _FROM_DATA_OPS and first.python_list and (first.batch_rows or first.data_length) and first.taint:
                # jnp.array([f(o) for o in batch]): a Python list of the batch's values made one tensor
                return replace(first, transposed=False, expanded_axis=None, exp_node=None, python_list=False,
                               elements=None, maybe_list=False)
            return replace(first, transposed=False, expanded_axis=None,
                           exp_node=first.exp_node if name in _SHAPE_ONLY_OPS else None,
                           batch_axis=first.batch_axis if name in _AXES_KEEPING_OPS else None)
        if name in CLIP_OPS:
            return self._clip(op, first)
        if name in MAXIMUM_OPS and len(op.args) >= 2:
            left, right = first, self.facts(op.args[1])
            guarded = (left.taint and not right.taint and _positive_offset(right)) or \
                (right.taint and not left.taint and _positive_offset(left)) or left.guarded or right.guarded
            return Facts(taint=left.taint | right.taint, guarded=bool(guarded), nonneg=left.nonneg or right.nonneg,
                         bounded=left.bounded and right.bounded, batch_sum=left.batch_sum or right.batch_sum,
                         peak=left.peak and right.peak,  # maximum(m, transpose(m)) of row maxima
                         max_of=self._maximum_of(op))  # torch.max(a, max(b, dim=1)[0]): bounds a and b
        if name in MINIMUM_OPS and len(op.args) >= 2:
            left, right = first, self.facts(op.args[1])
            return Facts(taint=left.taint | right.taint, guarded=left.guarded and right.guarded,
                         nonneg=left.nonneg and right.nonneg, nonpos=left.nonpos or right.nonpos,
                         bounded=left.bounded or right.bounded or not left.taint or not right.taint,
                         batch_sum=left.batch_sum or right.batch_sum)
        if name in ABS_OPS:
            # |sum(y_true) - sum(y_pred)| over the whole batch: a count error that grows with the batch
            # (only for such a difference written out: other magnitudes of sums are left as they were)
            return Facts(taint=first.taint, nonneg=True, magnitude=first.error or first.magnitude,
                         guarded=first.guarded, scaled=first.scaled, bounded=first.bounded,
                         vanishes_at_fit=first.vanishes_at_fit,
                         batch_sum=first.batch_sum if self._difference_of_whole_sums(op.args[0]) else None)
        if name in SQUARE_OPS:
            return Facts(taint=first.taint, nonneg=True, magnitude=first.error or first.magnitude,
                         below_one=first.inside_unit,  # square(cos) of a cosine clipped inside (-1, 1)
                         scaled=bool(first.taint), bounded=first.bounded, guarded=first.guarded,
                         vanishes_at_fit=first.vanishes_at_fit,
                         # (sum(t) - sum(p)) ** 2 over the whole batch grows with it, faster still
                         batch_sum=op.args[0] if self._whole_batch_norm(op.args[0])
                         else first.batch_sum if self._difference_of_whole_sums(op.args[0]) else None)
        if name in NORM_OPS:
            # an L1 norm of a whole batch (no axis) is a sum over it (squared L2 norms: see binary)
            order = op.arg(1, "p", "ord")
            whole_sum = order is not None and _text(order) in ("1", "1.0") and self._whole_batch_norm(node)
            # a norm of the whole batch (no axis) of a prediction is 0 only where every entry is
            whole = self._whole_batch_norm(node) and PRED in first.taint and self._as_received(op.args[0])
            # norm(S + eps): a norm of entries bounded away from 0 is itself
            return Facts(taint=first.taint, nonneg=True, magnitude=first.error or first.magnitude, batch_energy=whole,
                         guarded=first.guarded and not first.python_list,
                         bounded=first.bounded and first.taint != EMPTY, length=_a_vector(first),
                         norm_of=_text(op.args[0]) if order is None or _text(order) in ("2", "2.0", "'fro'", '"fro"') else None,
                         batch_sum=node if whole_sum else None)
        if name == "det" and _COVARIANCE_NAME.search(_text(op.args[0])) and not first.difference \
                and not first.gram:
            # det(sigma_p), det(sigma_t @ sigma_p): a covariance is positive definite by construction
            # (built from clamped widths, or inverted beside), so its determinant is positive; not a
            # covariance computed as a difference (sigma_p - k @ sigma_p can round to singular) or
            # measured from the batch (x.T @ x / n is singular when the batch is no larger than D)
            return Facts(taint=first.taint, nonneg=True, guarded=True)
        if name in DISTANCE_OPS and len(op.args) >= 2:
            # distances between unit vectors (normalised embeddings) are at most 2
            second = self.facts(op.args[1])
            return Facts(taint=first.taint | second.taint, nonneg=True,
                         bounded=first.bounded and second.bounded)
        if name in SQRT_OPS:
            # sqrt(sum over the batch): the loss still grows with the batch (as its square root)
            return Facts(taint=first.taint, nonneg=True, guarded=first.guarded, magnitude=first.magnitude,
                         bounded=first.bounded, batch_sum=first.batch_sum, batch_energy=first.batch_energy,
                         length=first.length,  # sqrt(sum(x ** 2, -1)): the rows' lengths
                         norm_of=self.facts(op.args[0]).squares_summed)
        if name in EXP_OPS:
            safe = first.bounded or first.nonpos or not first.taint or (first.capped and name in ("exp", "expm1"))
            # positive, but an unbounded argument underflows to 0 as surely as it overflows
            # expm1 keeps the sign of its argument; exp of a negative value is below 1, expm1 of it below 0
            return Facts(taint=first.taint, nonneg=name != "expm1" or _nonnegative(first),
                         nonpos=name == "expm1" and first.nonpos, negative=name == "expm1" and first.negative,
                         below_one=name == "exp" and first.negative,
                         at_most_one=name == "exp" and first.nonpos,  # exp(-softplus(x)): in (0, 1]
                         guarded=name in ("exp", "cosh"),  # positive by construction (underflow aside)
                         peak_one=name == "exp" and first.max_shifted,
                         stabilised=name == "exp" and (first.max_shifted or first.peak_shifted),
                         bounded=safe, exp_node=None if safe else node, scaled=first.scaled)
        if name in LOG_OPS and first.above_one:
            # log2(1 + rank) with rank >= 1, log(2 + relu(x)): positive, bounded away from zero
            return Facts(taint=first.taint, nonneg=True, guarded=True)
        if name in LOG_OPS and first.guarded and first.bounded and first.is_tensor:
            # log(p + eps) of a probability, log(softmax(x / t)): bounded away from zero and in
            # magnitude, so its log lies between two constants (an entropy is at most log(classes))
            return Facts(taint=first.taint, bounded=True, nonpos=first.at_most_one and first.unit)
        if name == "log1p" and first.nonneg and first.guarded:
            return Facts(taint=first.taint, nonneg=True, guarded=True)  # log1p(eps + x**2)
        if name in NONNEG_OPS:
            # relu and softplus are monotone: of a bounded (or capped) argument, bounded (capped) too
            return Facts(taint=first.taint, nonneg=True,
                         bounded=name == "relu6" or (name in ("relu", "softplus") and (first.bounded or first.capped)))
        if name in BOUNDED_OPS:
            return _bounded_op_facts(name, first)
        if name in SUM_OPS:
            axis = op.arg(1, "axis", "dim")  # over the features, not the batch axis 0
            squared = _squared_rows_of(op.args[0]) if axis is not None and _text(axis) not in ("0", "(0,)") else None
            total = self._sum(op, first)
            return replace(total, squared_norms=frozenset({squared})) if squared and first.is_tensor else total
        if name == "l2_loss" and op.namespace.startswith("tensorflow"):
            # tf.nn.l2_loss(t) = sum(t ** 2) / 2 over every axis (optax's l2_loss is elementwise)
            over_batch = first.is_tensor and not first.no_batch_axis and not first.python_list
            return Facts(taint=first.taint, nonneg=True, magnitude=first.error or first.magnitude,
                         batch_sum=op.node if over_batch else first.batch_sum,
                         no_batch_axis=first.no_batch_axis or first.is_tensor)
        if name in MAX_REDUCE_OPS:
            return replace(first, exp_node=None, transposed=False, expanded_axis=None, error=False,
                           max_of=self._maximum_of(op), batch_axis=self._batch_reduction(op, first)[1],
                           peak=PRED in first.taint and not first.shape and not first.python_list)
        if name in MEAN_OPS or name in MIN_REDUCE_OPS:
            over_batch, batch_axis = self._batch_reduction(op, first)
            # the batch mean of probabilities is 0 only where every sample's is: not an underflow risk
            averaged = name in MEAN_OPS and over_batch and first.probability
            energy = name in MEAN_OPS and op.arg(1, "axis", "dim", "axes", "reduction_indices") is None \
                and bool(op.args) and self._energy_of_the_batch(op.args[0])
            return replace(first, exp_node=None, transposed=False, expanded_axis=None, error=False,
                           batch_energy=energy, peak=False,
                           trough=name in MIN_REDUCE_OPS and PRED in first.taint and not first.shape and not first.python_list,
                           no_batch_axis=first.no_batch_axis or over_batch,
                           batch_mean=op.node if (name in MEAN_OPS and over_batch and first.is_tensor
                                                  and not first.no_batch_axis and not first.python_list) else None,
                           batch_axis=batch_axis,
                           guarded=first.guarded or averaged, probability=first.probability and not averaged)
        if name in LOGSUMEXP_OPS:
            # logsumexp(x) >= max(x): x - logsumexp(x) is a log-softmax, never positive
            return Facts(taint=first.taint, batch_sum=None, max_of=self._maximum_of(op))
        if name in WHERE_OPS and len(op.args) >= 3:
            return self._where(op)
        if name in _SVD_OPS and op.args and first.two_axes:
            # U, S, V = torch.pca_lowrank(x) of a (batch, features) matrix: U has x's rows; the
            # singular values and the right factor (features x components) have no batch axis
            # (tf.linalg.svd returns s, u, v). Of a batch of matrices (B, M, N), S and V keep it
            rows = replace(first, batch_sum=None, exp_node=None, python_list=False, elements=None)
            factor = replace(rows, no_batch_axis=True, batch_rows=False, batch_axis=None)
            parts = (factor, rows, factor) if op.namespace.startswith("tensorflow") else (rows, factor, factor)
            return replace(rows, elements=parts)
        if name in ("masked_fill", "masked_fill_") and len(op.args) >= 3:
            condition, value = self.facts(op.args[1]), self.facts(op.args[2])
            if condition.zero_of is not None and condition.zero_of == _text(op.args[0]) and _positive_offset(value):
                return replace(first, guarded=True, exp_node=None)  # den.masked_fill(den == 0, 1)
            return replace(first, exp_node=None)
        if name in ("fill_diagonal_", "fill_diagonal") and len(op.args) >= 2:
            # ones_like(x).fill_diagonal_(0): a 0/1 mask without its diagonal
            value = self.facts(op.arg(1, "fill_value"))
            return Facts(taint=first.taint | value.taint, nonneg=first.nonneg and value.nonneg,
                         bounded=first.bounded and value.bounded)
        if name in ("scatter", "scatter_", "index_fill", "index_fill_") and len(op.args) >= 3:
            # ones_like(mask).scatter(1, idx, 0): the diagonal zeroed out of a 0/1 mask
            value = self.facts(op.arg(3, "value", "src") or op.args[-1])
            return Facts(taint=first.taint | value.taint, nonneg=first.nonneg and value.nonneg,
                         bounded=first.bounded and value.bounded)
        if name in PIECEWISE_OPS:
            return Facts(taint=first.taint)
        if name in ("equal", "allclose", "is_nonzero", "is_same_size") and op.namespace == "torch":
            # torch.equal(a, b): one Python bool (the sync is BSG701's business); against a tensor of
            # zeros (``torch.equal(zero, vx)``) it is true where ``vx`` is all 0
            tested = [a for a in op.args[:2] if not self.facts(a).zero] if name == "equal" else []
            if len(op.args) == 2 and len(tested) == 1 and _text(tested[0]):
                return replace(UNTAINTED, whole_zero_of=_text(tested[0]))
            return UNTAINTED
        if name in COMPARISON_OPS:
            taint = EMPTY
            for value in op.args:
                taint = taint | self.facts(value).taint
            zero_of, nonzero_of = self._zero_test_call(op)
            return Facts(taint=taint, boolean=True, bounded=True, zero_of=zero_of, nonzero_of=nonzero_of)
        if name in CONSTANT_MAKERS:
            # torch.max(d, zeros_like(d)), full_like(d, 0.0): a floor at 0, no guard
            fill = op.arg(1, "fill_value", "value") if name in ("full", "full_like", "fill") else None
            zeros = name.startswith("zeros") or (fill is not None and self.facts(fill).literal == 0)
            # zeros_like(pred): the prediction's shape, its batch axis first
            shaped = name.endswith("_like") and (first.batch_shaped or (
                first.is_tensor and _carries_the_batch(first) and (not first.maybe_list or first.named_tensor)
                and op.namespace != "numpy"))
            # torch.zeros(pred.shape), tf.zeros(tf.shape(y_pred)): made in the prediction's whole shape
            shaped = shaped or (name in ("zeros", "ones", "full") and op.namespace not in ("", "numpy")
                                and first.tensor_shape and first.batch_dim_source)
            return Facts(bounded=True, guarded=name.startswith("ones"), nonneg=name.startswith(("ones", "zeros")),
                         nonpos=zeros, zero=zeros, made_tensor=op.namespace != "numpy", batch_shaped=shaped)
        if name in UNSTACK_OPS and op.args:
            axis = op.arg(1, "axis", "dim") if name not in _PARTS_OPS else op.arg(2, "axis", "dim")
            if name == "hsplit":
                axis = cst.Integer("1")
            # split/chunk/array_split/dynamic_partition cut the batch into parts (each keeps rows;
            # array_split(x, n): n of them); unstack/unbind give rows, and so do parts of one row
            # each: torch.split(x, 1), chunk(x, B), tf.split(x, B) with B the batch size
            sizes = op.arg(1, "split_size_or_sections", "split_size", "num_or_size_splits", "chunks",
                           "indices_or_sections", "sections")
            size_facts = self.facts(sizes) if sizes is not None and name != "dynamic_partition" else None
            torch_sized = name == "split" and (op.is_method or op.namespace.startswith("torch"))
            one_each = size_facts is not None and (size_facts.literal == 1 if torch_sized else size_facts.batch_dim) \
                and first.is_tensor and not first.no_batch_axis and not first.network_output \
                and (first.batch_axis is None or first.batch_axis[0] == 0)  # (not a time-major output's steps)
            along_batch = (name not in _PARTS_OPS or one_each) and (axis is None or self.facts(axis).literal == 0)
            return Facts(taint=first.taint, python_list=True, batch_rows=along_batch and first.is_tensor,
                         tensor_parts=not along_batch,
                         # split(x, sizes, dim=1): channel groups, each with every sample
                         feature_parts=axis is not None and (self.facts(axis).literal or 0) != 0)
        if name in ("add_n", "accumulate_n") and op.args:
            # tf.add_n(terms): their elementwise sum (a list of whole-batch sums: still one)
            return self._stacked(op.args[0], keep_sums=True)
        if name in STACK_OPS and op.args:
            # (stack([l1_sum, l2_sum]) of scalar sums; a concat joins vectors: tf.concat([sums, [s]], 0)
            # of slices' sums is a vector of them, each perhaps one example's)
            stacked = self._stacked(op.args[0], keep_sums=name == "stack")
            listed = self.facts(op.args[0])
            axis = op.arg(1, "axis", "dim")
            stacked_at = self.facts(axis).literal if axis is not None else None
            along_0 = axis is None or stacked_at == 0
            if listed.grown_list and listed.column_terms and along_0 and not listed.batch_rows and name == "stack" \
                    and not listed.no_batch_axis and stacked.is_tensor:
                # per-position terms of the batch, each (B,), grown in a loop over positions and
                # stacked: (M, B), the batch now on axis 1 (a full sum of it sums the batch too)
                return replace(stacked, batch_axis=(1, None), no_batch_axis=False)
            if listed.batch_rows and name == "stack" and stacked_at is not None and stacked_at >= 1:
                # one entry per sample, stacked along a later axis: (K, B, ...), axis 0 counts
                # what each sample contributed (its picked negatives), the batch sits at ``dim``
                return replace(stacked, batch_axis=(int(stacked_at), None), no_batch_axis=False, batch_rows=False)
            parts = op.args[0]
            if isinstance(parts, cst.Call) and terminal_name(parts.func) in ("list", "tuple") and len(parts.args) == 1:
                parts = parts.args[0].value  # stack(list(x[i].mean(0) for i in ...))
            if id(parts) in self._batchless_entries and along_0:
                # stack([x[labels == c].mean(0) for c in range(n_way)]): one row per class (prototypes)
                return replace(stacked, no_batch_axis=True)
            if listed.grown_list and along_0 and not listed.batch_rows and (name == "stack" or listed.no_batch_axis):
                # a list grown by ``append`` in a loop over something else (views, levels), stacked:
                # its new axis 0 counts the loop's items; or a list of rows without a batch axis
                # (one image's objects) joined along axis 0. A cat of views of the batch keeps it (V x B
                # rows), and so does a list made one entry per sample
                return replace(stacked, no_batch_axis=True)
            if listed.batch_rows and listed.grown_list and along_0 and name == "stack" and not listed.normalised_entries:
                # one entry per sample (each perhaps a number: its loss), appended in a loop over the
                # batch and stacked: the batch is the new axis 0
                return replace(stacked, no_batch_axis=False, batch_axis=(0, None), python_list=False, batch_rows=False)
            return stacked
        if name.startswith(_PREDICATE_PREFIXES) and name not in COMPARISON_OPS:
            return UNTAINTED  # is_tensor(), any_symbolic_tensors(), has_...: Python booleans
        if op.namespace.startswith("numpy.random") or (op.namespace == "random" and not op.is_method):
            # np.random.choice(words, size=k), random.sample(ids, k): draws on the host, shaped by
            # their size argument rather than by their inputs' rows; a walk over the batch only
            # when a batch size is what they permute or draw from (np.random.permutation(len(x)))
            size = op.kwargs.get("size")
            walks = (op.name in ("permutation", "shuffle") and any(self.facts(value).batch_dim for value in op.args)) \
                or (size is not None and self.facts(size).batch_dim)
            return Facts(bounded=True, batch_range=bool(walks))
        taint = EMPTY
        for value in [*op.args, *op.kwargs.values()]:
            taint = taint | self.facts(value).taint
        if op.namespace.endswith("random") and op.namespace != "random" and not op.namespace.startswith("numpy"):
            taint = taint | {TENSOR}  # a graph random tensor (python's and numpy's draws are host values)
        return Facts(taint=taint)

    def _maximum_of(self, op: Op) -> tuple[str, ...]:
        """The names a max is an upper bound of: ``max(a)``; ``torch.max(a, max(b, dim=1)[0])``."""
        sources = op.args[:1]
        second = op.args[1] if len(op.args) >= 2 else None
        if second is not None and self.facts(second).is_tensor and not self.facts(second).shape:
            sources = op.args[:2]  # elementwise maximum of two tensors
        names: tuple[str, ...] = ()
        for source in sources:
            if isinstance(source, cst.Name):
                names += (source.value,)
            names += self.facts(source).max_of  # pmax(max(x)): still an upper bound of x
            names += self.facts(source).parts_of  # max(concat([a, b])): an upper bound of a and of b
        return names

    def _stacked(self, parts, keep_sums: bool = False) -> Facts:
        """``cat([a, b])``: the range facts every part shares (a cat of cosines is still bounded);
        ``keep_sums``: parts that each sum the whole batch keep that sum (``stack``, ``add_n``)."""
        facts = self.facts(parts)
        if isinstance(parts, (cst.List, cst.Tuple)) and parts.elements \
                and not any(isinstance(e, cst.StarredElement) for e in parts.elements):
            each = [self.facts(e.value) for e in parts.elements]
            carrying = [f for f in each if f.taint]
            # cat([ts, ys], axis=1) of one trajectory's parts (documented time steps first): no part
            # has a batch axis, nor has their join
            batchless = bool(carrying) and all(f.no_batch_axis and f.is_tensor for f in carrying)
            # stack([l1_sum, l2_sum]) of sums over the whole batch: each entry grows with it, so do they
            summed = carrying[0].batch_sum if keep_sums and carrying and all(f.batch_sum is not None
                                                                           for f in carrying) else None
            return Facts(taint=facts.taint, bounded=all(f.bounded for f in each), unit=all(f.unit for f in each),
                         no_batch_axis=batchless or summed is not None, batch_sum=summed,
                         nonneg=all(f.nonneg for f in each), nonpos=all(f.nonpos for f in each),
                         guarded=all(f.guarded for f in each),
                         parts_of=tuple(e.value.value for e in parts.elements if isinstance(e.value, cst.Name)))
        # a list grown with entries without gradient (thresholded counts): stacked, still none
        no_gradient = facts.grown_list and facts.nograd
        summed = facts.batch_sum if keep_sums and facts.grown_list else None  # a list grown with whole-batch sums
        return Facts(taint=facts.taint, nograd=no_gradient, step_node=facts.step_node if no_gradient else None,
                     batch_sum=summed, no_batch_axis=summed is not None)

    def _column_or_row(self, op: Op) -> int | None:
        """``reshape(x, (-1, 1))`` is a column (axis 1 inserted), ``(1, -1)`` a row (axis 0); a flat
        ``reshape(x, (-1,))`` broadcasts against a column as a row does (``(B,) - (B, 1)`` is B x B)."""
        shape = op.arg(1, "shape", "newshape")
        dims = None
        if isinstance(shape, (cst.Tuple, cst.List)):
            dims = [e.value for e in shape.elements]
        elif op.is_method and len(op.args) >= 3:
            dims = op.args[1:]
        elif op.is_method and len(op.args) == 2 and shape is not None:
            dims = [shape]  # x.reshape(-1)
        if dims is not None and len(dims) == 1:
            return 0 if self.facts(dims[0]).literal == -1 else None
        if dims is not None and len(dims) >= 3:
            # view(B, 1, D) against view(1, B, D): the batch put on axis 0 of one, axis 1 of the other
            # (B read from a shape; a -1 may be any count: view(1, -1, D) of class prototypes)
            first, second = (self.facts(d) for d in dims[:2])
            if second.literal == 1 and first.batch_dim:
                return 1
            if first.literal == 1 and second.batch_dim:
                return 0
            return None
        if dims is None or len(dims) != 2:
            return None
        values = [self.facts(d).literal for d in dims]
        if values == [-1, 1]:
            return 1
        if values == [1, -1]:
            return 0
        return None

    def _zero_test_call(self, op: Op) -> tuple[str | None, str | None]:
        """``tf.equal(x, 0)``, ``torch.gt(x, 0)``, ``x.eq(0)``: as ``x == 0`` / ``x > 0`` (see _zero_test)."""
        if len(op.args) != 2 or op.name not in _ZERO_TEST_OPS:
            return None, None
        bound = self.facts(op.args[1])
        text = _text(op.args[0])
        if bound.taint or bound.literal != 0 or not text:
            return None, None
        return (text, None) if op.name in ("equal", "eq", "less_equal", "le") else (None, text)

    def _where(self, op: Op) -> Facts:
        condition = self.facts(op.args[0])
        then, otherwise = self.facts(op.args[1]), self.facts(op.args[2])
        joined = _join(then, otherwise)
        # where(den == 0, 1, den) / where(den > 0, den, 1): den, with its zeros replaced
        if condition.zero_of is not None and condition.zero_of == _text(op.args[2]) and _positive_offset(then):
            return replace(joined, guarded=True)
        if _text(op.args[1]) in nonzero_names(condition) \
                and (_positive_offset(otherwise) or otherwise.guarded):
            return replace(joined, guarded=True)
        cap = self._cap_below_one(op)
        if cap is not None:  # where(p >= 1, (1 - eps) * ones_like(p), p): p kept below 1
            kept, replacement = cap
            return replace(joined, below_one=True, nonneg=kept.nonneg and replacement.nonneg,
                           guarded=kept.guarded and _positive_offset(replacement))
        sign = _sign_fold(op)
        if sign == "nonpos":  # where(x >= 0, -x, x): -|x| (the stable softplus's argument)
            return replace(joined, nonpos=True, nonneg=False)
        if sign == "nonneg":  # where(x >= 0, x, -x): |x|
            return replace(joined, nonneg=True, nonpos=False)
        return joined

    def _cap_below_one(self, op: Op) -> tuple[Facts, Facts] | None:
        """The facts of the kept value and of its replacement when ``where`` caps a value below 1:
        ``where(p >= 1, (1 - eps) * ones_like(p), p)``, ``where(p < 0.999, p, 0.999)``; None otherwise.

            >>> import libcst as cst
            >>> from keras_bsguard.lint.names import ImportTable
            >>> table = ImportTable(); table.add_import("torch", "torch")
            >>> ev = Evaluator(table, {"p": frozenset({"pred"})})
            >>> ev.facts(cst.parse_expression("torch.where(p >= 1, 0.99 * torch.ones_like(p), p)")).below_one
            True
            >>> ev.facts(cst.parse_expression("torch.where(p > 1, torch.ones_like(p), p)")).below_one
            False
        """
        if len(op.args) < 3 or not isinstance(op.args[0], cst.Comparison) or len(op.args[0].comparisons) != 1:
            return None
        test = op.args[0]
        operator = test.comparisons[0].operator
        bound = self.facts(test.comparisons[0].comparator)
        if bound.taint or bound.literal is None:
            return None
        if isinstance(operator, (cst.GreaterThan, cst.GreaterThanEqual)):
            kept, replacement = op.args[2], op.args[1]  # where(p >= c, v, p)
            strict_keep = isinstance(operator, cst.GreaterThanEqual)  # p kept where p < c
        elif isinstance(operator, (cst.LessThan, cst.LessThanEqual)):
            kept, replacement = op.args[1], op.args[2]  # where(p < c, p, v)
            strict_keep = isinstance(operator, cst.LessThan)
        else:
            return None
        shift = 0.0  # where(p > 0.999, 0.999, p + 1e-7): what is kept is p plus a small constant
        if isinstance(kept, cst.BinaryOperation) and isinstance(kept.operator, cst.Add) \
                and _text(kept.left) == _text(test.left) and isinstance(kept.right, (cst.Integer, cst.Float)):
            shift = float(kept.right.evaluated_value)
        elif _text(kept) != _text(test.left):
            return None
        if shift < 0 or not (bound.literal + shift < 1 or (strict_keep and shift == 0 and bound.literal <= 1)):
            return None
        if not self._constant_below_one(replacement):
            return None
        return self.facts(kept), self.facts(replacement)

    def _constant_below_one(self, node) -> bool:
        """``0.999``, ``1 - eps``, ``(1 - e) * ones_like(x)``, ``full_like(x, 0.999)``: a constant
        in [0, 1)."""
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Multiply):
            for factor, other in ((node.left, node.right), (node.right, node.left)):
                if isinstance(other, cst.Call) and terminal_name(other.func) in ("ones_like", "ones"):
                    return self._constant_below_one(factor)
            return False
        if isinstance(node, cst.Call) and terminal_name(node.func) in ("full_like", "fill") and len(node.args) >= 2:
            return self._constant_below_one(node.args[1].value)
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Subtract) \
                and isinstance(node.left, (cst.Integer, cst.Float)) and float(node.left.evaluated_value) == 1.0:
            # 1 - eps: eps a positive constant that float32 can tell from 0 beside 1 (1 - 1e-8 is 1.0),
            # or a name that says epsilon (not a smoothing rate, which may be 0)
            small = self.facts(node.right)
            if small.taint:
                return False
            if small.literal is not None:
                return _FLOAT32_STEP_BELOW_ONE <= small.literal <= 1
            return bool(_STRICT_EPS_NAME.search(terminal_name(node.right) or ""))
        facts = self.facts(node)
        return not facts.taint and facts.literal is not None and 0 <= facts.literal <= 1 - _FLOAT32_STEP_BELOW_ONE

    def _unknown_call(self, node: cst.Call) -> Facts:
        """A call we cannot resolve: a same-file helper's return summary; a method of a known
        tensor keeps its tensor-ness (``y.to_tensor()``); a model object called on tensors
        returns a prediction."""
        if self.summarize is not None:
            summary = self.summarize(node, self)
            if summary is not None:
                if summary.nograd and summary.taint:
                    self._helper_ends_gradient.add(id(node))  # its body was read: it ends the gradient
                return summary
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "gradient" and len(node.args) >= 2 \
                and _TAPE_NAME.search(_text(func.value)) and node.args[1].keyword is None \
                and not isinstance(node.args[1].value, (cst.List, cst.Tuple)) \
                and not _TRAINABLE_NAME.search(_text(node.args[1].value)):
            # tape.gradient(logit, interpolated): the gradient with respect to one tensor has its
            # shape, the batch first (with respect to weights: one per weight, no batch axis)
            sources = self.facts(node.args[1].value)
            if sources.is_tensor:
                return Facts(taint=frozenset({PRED}), maybe_list=sources.maybe_list, named_tensor=sources.named_tensor,
                             no_batch_axis=sources.no_batch_axis, batch_axis=sources.batch_axis,
                             batch_shaped=sources.batch_shaped)
        if node.args and ((isinstance(func, cst.Name) and (self.env[func.value].reduced_loss if func.value in self.env
                                                           else func.value in self.module_loss_objects))
                          or (isinstance(func, cst.Call) and self.facts(func).reduced_loss)):
            # bce(y_true, y_pred) with bce = keras.losses.BinaryCrossentropy(): the batch mean
            return Facts(taint=self._opaque([a.value for a in node.args]).taint, nonneg=True, no_batch_axis=True,
                         batch_mean=node)
        if isinstance(func, cst.Name) and func.value in self.lambdas:
            called = self._lambda_call(self.lambdas[func.value], node)
            if called is not None:
                return called
        callee = _text(func).split(".")[-1].lower()
        if callee and _BOUNDING_NAME.search(callee) and node.args:
            # tanh_clip(x), l2_normalize_rows(x), my_sigmoid(x): a function named for bounding its input;
            # a clip given an epsilon (get_clip(y_pred, y_true, smooth)) keeps its values away from 0
            floored = bool(re.search("clip|clamp", callee)) and any(_an_epsilon(a.value) for a in node.args[1:])
            return Facts(taint=self._opaque([a.value for a in node.args]).taint, bounded=True,
                         guarded=floored, nonneg=floored)
        if callee and _DISTANCE_NAME.match(callee) and node.args and not calls_a_model(func, self):
            # distance(a, b), pairwise_dist(x), self.l2_norm(x): a distance is >= 0
            return Facts(taint=self._opaque([a.value for a in node.args]).taint, nonneg=True)
        if calls_a_model(func, self) and any(self.facts(a.value).taint or not isinstance(
                a.value, (cst.Integer, cst.Float, cst.SimpleString)) for a in node.args):
            # a network's output carries gradient, even on inputs the loss did not receive (G(z));
            # it may be a tuple (heads, a distribution's parameters). Run on one example (under
            # vmap), it answers for that example: no batch axis.
            inputs = [self.facts(a.value) for a in node.args]
            one_example = any(f.taint and f.is_tensor for f in inputs) \
                and all(f.no_batch_axis for f in inputs if f.taint and f.is_tensor)
            return Facts(taint=frozenset({PRED}), network_output=True, no_batch_axis=one_example)
        if _names_a_loss_callable(callee) and node.args:
            inputs = [self.facts(a.value) for a in node.args]
            if any(f.is_tensor for f in inputs):
                # self.loss_fcn(pred, true), criterion(logits, target): a criterion the code was given
                # returns a tensor of losses, each >= 0; whether it keeps the batch axis is the
                # criterion's reduction, unknown here
                return Facts(taint=_union(inputs), nonneg=True, no_batch_axis=True)
        if isinstance(func, cst.Attribute):
            receiver = self.facts(func.value)
            if receiver.on_host and func.attr.value.endswith("_") and not func.attr.value.startswith("_") \
                    and not any(self.facts(a.value).taint for a in node.args):
                # torch.Tensor(shape).fill_(0): an in-place method returns its host tensor (not
                # ``copy_(logits)``, which copies the device's values in)
                return receiver
            if func.attr.value in HOST_VALUE_OPS or (func.attr.value.startswith(("is_", "has_")) and not node.args):
                return UNTAINTED  # x.is_complex(), x.is_sparse(): metadata, a Python bool
            if func.attr.value in MAPPING_VIEW_OPS and not node.args:
                return Facts(taint=receiver.taint, python_list=True)
            if func.attr.value in _DISTRIBUTION_PROBABILITIES and node.args and PRED in receiver.taint:
                # dist.cdf(x) of a distribution built from the prediction: a probability, 0 in the tails
                return Facts(taint=receiver.taint | self._opaque([a.value for a in node.args]).taint,
                             nonneg=True, bounded=True, unit=True)
            if receiver.is_tensor and not receiver.maybe_list and not func.attr.value.startswith("_"):
                return Facts(taint=receiver.taint, no_batch_axis=receiver.no_batch_axis)
        if _GATHER_NAME.search(callee) or (callee == "apply" and "." in _text(func)
                                           and _GATHER_NAME.search(_text(func).split(".")[-2].lower())):
            # all_gather(x), concat_all_gather(x), GatherLayer.apply(x): every device's batch stacked
            # on axis 0, so the batch axis stays (world size x B rows)
            gathered = self._gathered(node)
            if gathered is not None:
                return gathered
        if (_self_attribute(func) in self.layer_attributes
                or (isinstance(func, cst.Name) and func.value in self.local_layers)) and node.args:
            # self.conv_x(pred) of self.conv_x = nn.Conv2d(...), pool(pred) of pool = nn.MaxPool3d(...)
            # built in the loss: a tensor of the batch, with the gradient
            inputs = [self.facts(arg.value) for arg in node.args if arg.keyword is None]
            if inputs and inputs[0].is_tensor and not inputs[0].python_list:
                return Facts(taint=inputs[0].taint, no_batch_axis=inputs[0].no_batch_axis)
        return self._opaque([arg.value for arg in node.args])

    def _lambda_call(self, function: cst.Lambda, call: cst.Call) -> Facts | None:
        """Facts of a local lambda's body with its parameters bound to the call's arguments."""
        params = function.params.params
        positional = [a for a in call.args if a.keyword is None and not a.star]
        if self.depth >= 3 or len(positional) != len(params) or len(call.args) != len(positional) \
                or function.params.star_arg not in (None, cst.MaybeSentinel.DEFAULT) or function.params.kwonly_params:
            return None
        inner = Evaluator(self.imports, {}, self.module_ints, self.batch_literals, self.summarize)
        inner.runtime_attributes = self.runtime_attributes
        inner.layer_attributes = self.layer_attributes
        inner.env = dict(self.env)
        inner.lambdas = self.lambdas
        inner.depth = self.depth + 1
        for param, arg in zip(params, positional):
            inner.env[param.name.value] = self.facts(arg.value)
        return inner.facts(function.body)

    def _gathered(self, node: cst.Call) -> Facts | None:
        """What a gather across devices returns for one tensor (or a tuple of them): the same
        values, with more rows."""
        keeps_grad = bool(_GATHER_WITH_GRADIENT.search(_text(node.func)))
        positional = [a.value for a in node.args if a.keyword is None and not a.star]
        if len(positional) != 1:
            return None
        given = positional[0]
        parts = [e.value for e in given.elements] if isinstance(given, (cst.Tuple, cst.List)) else [given]
        found = []
        for part in parts:
            facts = self.facts(part)
            if not facts.is_tensor or facts.no_batch_axis:
                return None
            # (``dist.all_gather`` hands back copies without a graph; ``GatherLayer``, ``*_with_grad`` keep it)
            found.append(replace(facts, batch_sum=None, exp_node=None, nograd=facts.nograd or not keeps_grad))
        if len(parts) == 1 and not isinstance(given, (cst.Tuple, cst.List)):
            return found[0]
        return Facts(taint=_union(found), python_list=True, elements=tuple(found))

    def _opaque(self, values) -> Facts:
        """A function we cannot see into: its result may hold the tensors it was given."""
        taint = EMPTY
        for value in values:
            taint = taint | self.facts(value).taint
        return Facts(taint=taint, opaque=bool(taint))

    def _builtin(self, op: Op, first: Facts) -> Facts:
        if op.name in _PYTHON_VALUED_BUILTINS:
            return UNTAINTED
        if op.name == "len":
            # len(self.discriminator(x)): maybe the number of heads or sub-networks, not the batch
            return Facts(shape=True, batch_dim=first.batch_shaped or (
                first.is_tensor and (not first.maybe_list or first.named_tensor) and not first.no_batch_axis
                and not first.network_output), bounded=True, guarded=True)
        if op.name in ("float", "int", "bool", "complex"):
            return UNTAINTED if first.taint else first  # a Python number: the sync is BSG701's business
        if op.name == "abs":
            return Facts(taint=first.taint, nonneg=True, magnitude=first.error or first.magnitude,
                         guarded=first.guarded, bounded=first.bounded,
                         batch_sum=first.batch_sum if op.args and self._difference_of_whole_sums(op.args[0]) else None)
        if op.name in ("max", "min") and len(op.args) >= 2:
            facts = [self.facts(a) for a in op.args]
            # max(num_pos, 1): a count that is never below 1
            floor = op.name == "max" and any(
                not f.taint and ((f.literal is not None and f.literal > 0) or (f.literal is None and (
                    (f.guarded and f.nonneg) or bool(_EPSILON_WORD.search(terminal_name(a) or "")))))
                for a, f in zip(op.args, facts))  # max(norm_a * norm_b, eps)
            return Facts(taint=_union(facts), shape=all(f.shape or not f.taint for f in facts), guarded=floor,
                         nonneg=floor)
        if op.name == "sum" and op.args and first.batch_rows and first.grown_list and PRED in first.taint \
                and not first.nograd and not first.normalised_entries:
            # sum(losses) of one loss per sample, appended in a loop over the batch: a sum over the
            # batch (read otherwise as the builtin sum of a list is, below)
            return Facts(taint=first.taint, python_list=True, opaque=first.opaque, batch_sum=op.node)
        if op.name == "sum" and op.args and first.grown_list and first.batch_sum is not None and PRED in first.taint:
            # sum(scale_losses) of entries that each sum the whole batch: still a sum over the batch
            return Facts(taint=first.taint, python_list=True, opaque=first.opaque, batch_sum=first.batch_sum)
        if op.name in ("sum", "list", "tuple", "sorted", "reversed") and op.args:
            # builtin sum() of a Python list of losses: not a reduction over the batch axis
            return Facts(taint=first.taint, python_list=True, opaque=first.opaque)
        if op.name == "range":
            # allidx = range(0, batch_size): one index per sample, when iterated
            stop_facts = self.facts(op.args[1]) if len(op.args) == 2 else first
            return Facts(shape=True, batch_range=stop_facts.batch_dim and len(op.args) <= 2)
        if op.name == "pow" and len(op.args) >= 2:
            return self.binary("**", op.args[0], op.args[1])
        return self._opaque(op.args)

    def _clip(self, op: Op, first: Facts) -> Facts:
        lower = op.arg(1, "clip_value_min", "x_min", "min", "a_min", "lower", "min_value", "min_val")
        upper = op.arg(2, "clip_value_max", "x_max", "max", "a_max", "upper", "max_value", "max_val")
        if op.name == "clamp_max":
            lower, upper = None, op.arg(1, "max")
        lower_facts = self.facts(lower) if lower is not None else None
        upper_facts = self.facts(upper) if upper is not None else None
        guarded = lower_facts is not None and not lower_facts.taint and _positive_offset(lower_facts)
        # a positive value clamped to [0, ...] stays positive (det(a) * det(b)).clamp(0)
        guarded = guarded or (first.guarded and first.nonneg and (lower_facts is None or lower_facts.nonneg)
                              and (upper_facts is None or (upper_facts.literal or 0) > 0))
        nonneg = lower_facts is not None and (lower_facts.nonneg or guarded)  # clamp(min=eps): >= eps > 0
        bounded = upper_facts is not None and not upper_facts.taint and (lower_facts is None or not lower_facts.taint)
        below_one = upper_facts is not None and not upper_facts.taint and (
            (upper_facts.literal is not None and upper_facts.literal < 1) or _is_one_minus_something(upper))
        unit = lower_facts is not None and upper_facts is not None and lower_facts.literal is not None \
            and upper_facts.literal is not None and 0 <= lower_facts.literal and upper_facts.literal <= 1
        # strictly inside (-1, 1) in float32 too: 1 - 1e-8 rounds to 1.0 there (half an ulp below 1 is 3e-8)
        inside_unit = below_one and lower_facts is not None and not lower_facts.taint \
            and (upper_facts.literal is None or upper_facts.literal <= 1 - _FLOAT32_MARGIN) \
            and ((lower_facts.literal is not None and -1 + _FLOAT32_MARGIN <= lower_facts.literal)
                 or _is_minus_one_plus_something(lower))
        negative = upper_facts is not None and not upper_facts.taint and upper_facts.literal is not None \
            and upper_facts.literal < 0
        above_one = lower_facts is not None and not lower_facts.taint and lower_facts.above_one  # clamp(x, min=1 + eps)
        return Facts(taint=first.taint, guarded=guarded, nonneg=nonneg, bounded=bounded, unit=unit,
                     probability=False, batch_sum=first.batch_sum, below_one=below_one, inside_unit=inside_unit,
                     negative=negative, nonpos=negative, above_one=above_one,
                     # x.norm(dim=1).clamp(min=eps): still the rows' lengths, kept away from 0 (and
                     # outer(|a|, |b|).clamp(min=eps) still the product of two rows' lengths)
                     norm_of=first.norm_of if guarded and upper_facts is None else None,
                     norm_pair=first.norm_pair if guarded and upper_facts is None else EMPTY)

    def _sum(self, op: Op, first: Facts) -> Facts:
        axis_given = op.arg(1, "axis", "dim", "axes", "reduction_indices") is not None
        reduced, batch_axis = self._batch_reduction(op, first)
        over_batch = reduced and not first.no_batch_axis
        if _is_stack_of_list(op.args[0] if op.args else None, self) or first.python_list:
            over_batch = False  # sum of a stacked list of losses: axis 0 is the list, not the batch
        if first.zero:
            over_batch = False  # x.sum() * 0: a zero of the right dtype and device, not a batch sum
        if first.unit_weighted:
            over_batch = False  # sum(loss * w) with w = w / sum(w): a weighted mean
        if first.weights_to_one and axis_given:
            over_batch = False  # sum(log_prob * normalized_weights, axis=0): a weighted mean over that axis
        return Facts(taint=first.taint, nonneg=first.nonneg,
                     guarded=first.guarded or first.probability or first.masked_positive or first.peak_one
                     or first.positive_terms or first.stabilised
                     or (first.alignment_path and not axis_given),
                     stabilised=first.stabilised, stabilised_masked=first.stabilised_masked,
                     batch_energy=not axis_given and self._energy_of_the_batch(op.args[0] if op.args else None),
                     bounded=first.bounded, zero=first.zero,
                     magnitude=first.magnitude, scaled=first.scaled, nonpos=first.nonpos,
                     # a sum of values with no gradient from the prediction (a mask, the labels) adds a
                     # constant: the loss value grows with the batch, its gradient does not
                     batch_sum=op.node if (over_batch and first.is_tensor and first.has_grad) else first.batch_sum,
                     exp_sum=first.exp_node, length=self._squares_of_a_vector(op.args[0] if op.args else None),
                     squares_summed=self._squares_summed_by(op.args[0]) if op.args else None,
                     inner_pair=first.product_operands if axis_given else EMPTY,  # sum(a * b, dim=1): rows' dot products
                     overlap_of=first.product_operands,
                     summed=self._summed_tensors(op.args[0]) if op.args and first.is_tensor else EMPTY,
                     target_total=over_batch and not axis_given and first.is_tensor and first.taint == {TRUE},
                     no_batch_axis=first.no_batch_axis or (first.is_tensor and reduced), batch_axis=batch_axis)

    def _reciprocal_of_a_count(self, node) -> bool:
        """``1.0 / batch_size``, ``1 / x.shape[0]``, ``1 / num_pos``: a number over what a division
        by would normalise a sum (see the ``/`` case of :meth:`_binary`); also its power,
        ``(1 / n) ** 2`` times a squared sum, a squared mean."""
        power = isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Power) \
            and isinstance(node.right, cst.Integer)
        if power:
            node = node.left
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Divide) \
                and isinstance(node.right, cst.BinaryOperation) and isinstance(node.right.operator, cst.Power) \
                and isinstance(node.right.right, cst.Integer):
            power = True  # 1 / n ** 2
            node = node.with_changes(right=node.right.left)
        if power and isinstance(node, cst.BinaryOperation):
            # (1 / n) ** 2 of a count (of the batch, of elements, of the targets' valid pixels); not
            # (1 / sigma) ** 2 of a learned scale: a weight
            count = self.facts(node.right)
            return (isinstance(node.left, (cst.Integer, cst.Float)) or not self.facts(node.left).taint) and (
                count.batch_dim or count.batch_constant or count.element_count or count.taint == {TRUE})
        if not (isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Divide)
                and isinstance(_unsigned(node.left), (cst.Integer, cst.Float))):
            return False  # 1.0 / n, -0.5 / n_nodes
        lengths = [factor.args[0].value for factor in _product_factors(node.right)
                   if isinstance(factor, cst.Call) and _text(factor.func) == "len" and len(factor.args) == 1]
        if lengths:
            # ``1.0 / len(x_natural)``: the size of an input (a tensor or a list of samples), not
            # of a hyperparameter list (``1. / len(self.scales)`` weights a sum over the scales)
            return any(self.facts(length).taint & {PRED, TRUE} for length in lengths)
        right = self.facts(node.right)
        # not a hyperparameter: ``1. / (2. * num_scales) * loss`` weights a sum of scales
        return right.batch_dim or bool(right.taint) or right.batch_constant or right.element_count or (
            right.shape and right.literal is None and not right.feature_count)

    def _norm_denominator_of(self, node, depth: int = 0) -> str | None:
        """The text of ``x`` when ``node`` is its Euclidean norm, also kept away from zero:
        ``norm(x, dim=1, keepdim=True)``, ``x.norm(...) + eps``, ``x.norm(...).clamp(min=eps)``,
        ``torch.clamp(norm, min=eps)``, ``maximum(norm, eps)``, ``sqrt(sum(x ** 2, -1))``."""
        if depth > 4:
            return None
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
            for side, other in ((node.left, node.right), (node.right, node.left)):
                if _positive_offset(self.facts(other)):
                    return self._norm_denominator_of(side, depth + 1)
            return None
        if isinstance(node, cst.Call):
            op = self.op(node)
            if op is not None and op.name in _ROW_SHAPE_OPS and op.args:
                return self._norm_denominator_of(op.args[0], depth + 1)  # norm.view(-1, 1).expand_as(x)
            if op is not None and op.name in ("clamp", "clip", "clamp_min", "maximum", "max", "clip_by_value") \
                    and op.args and not self.facts(op.args[0]).python_list:
                # a floor: clamp(min=eps), clamp_min(eps), maximum(n, eps) (not clamp(max=1), a ceiling)
                floor = op.kwargs.get("min", op.kwargs.get("a_min", op.kwargs.get("clip_value_min")))
                if floor is None and len(op.args) > 1:
                    floor = op.args[1]
                if floor is None or (isinstance(floor, cst.Name) and floor.value == "None"):
                    return None
                return self._norm_denominator_of(op.args[0], depth + 1)
        return self.facts(node).norm_of

    def _row_norm_of(self, node) -> str | None:
        """The text of ``x`` in ``x.norm(dim=1)``, ``torch.norm(x, dim=-1, keepdim=True)``,
        ``tf.norm(x, axis=1)``: the length of each row, not of the whole tensor."""
        op = self.op(node) if isinstance(node, cst.Call) else None
        if op is None or op.name != "norm" or not op.args:
            return None
        axis = op.kwargs.get("dim", op.kwargs.get("axis"))
        if axis is None or _text(axis) in ("0", "(0,)") or "ord" in op.kwargs or (
                "p" in op.kwargs and _text(op.kwargs["p"]) not in ("2", "'fro'", '"fro"')):
            return None  # a row's Euclidean length only
        return _text(op.args[0])

    def _whole_batch_norm(self, node) -> bool:
        """``x.norm(2)``, ``torch.norm(x, p=1)``: a norm with no axis of a tensor with a batch axis."""
        op = self.op(node) if isinstance(node, cst.Call) else None
        if op is None or op.name not in ("norm", "vector_norm") or not op.args or len(op.args) >= 3 \
                or {"dim", "axis"} & set(op.kwargs):
            return False
        first = self.facts(op.args[0])
        return first.is_tensor and not first.no_batch_axis

    def _positive_factor(self, node, facts: Facts) -> bool:
        """A fixed positive number: a literal, or a parameter of the loss whose default is one."""
        if facts.taint:
            return False
        if facts.literal is not None:
            return facts.literal > 0
        return isinstance(node, cst.Name) and self.param_defaults.get(node.value, 0) > 0

    def _squares_summed_by(self, summed) -> str | None:
        """``x`` when ``sum(summed, ...)`` is a squared norm of it: ``summed`` is ``x ** 2``,
        ``square(x)``, ``x * x``, or a name bound to one (``buffer = pow(x, 2)``). Kept through
        ``+ eps`` (``Facts.squares_summed``), read by ``sqrt`` as the norm of ``x``."""
        base = self._squared_base(summed)
        return _text(base) if base is not None else self.facts(summed).square_of

    def _summed_tensors(self, node) -> frozenset:
        """What ``sum(node)`` adds up, as source texts: ``{a, b}`` of ``a + b``, ``{a}`` of ``a ** 2``
        or of ``a`` itself (the terms of a Dice coefficient's denominator)."""
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
            return frozenset({_text(node.left), _text(node.right)})
        base = self._squared_base(node)
        return frozenset({_text(base if base is not None else node)})

    def _squared_base(self, node, with_abs: bool = False):
        """``x`` of ``x ** 2``, ``square(x)``, ``pow(x, 2)`` or ``x * x`` (and of ``abs(x)`` when
        ``with_abs``), else None."""
        if isinstance(node, cst.BinaryOperation):
            if isinstance(node.operator, cst.Power) and isinstance(node.right, (cst.Integer, cst.Float)) \
                    and float(node.right.evaluated_value) == 2:
                return node.left
            if isinstance(node.operator, cst.Multiply) and _same_text(node.left, node.right):
                return node.left
        elif isinstance(node, cst.Call):
            op = self.op(node)
            exponent = op.arg(1, "exponent", "y") if op is not None else None
            if op is not None and op.args and (op.name in SQUARE_OPS or (with_abs and op.name in ABS_OPS) or (
                    op.name in ("pow", "power") and exponent is not None and _text(exponent) in ("2", "2.0"))):
                return op.args[0]
        return None

    def _energy_of_the_batch(self, node) -> bool:
        """``y_pred * y_pred``, ``square(y_pred)``, ``abs(y_true)`` of a loss input as the loss
        received it (a tensor with the batch axis, not rebound): summed or averaged over every axis,
        the batch's included (no axis given), it is 0 only where every entry of every sample is
        exactly 0 (an SDR over the batch's energy). Not an error (a whole-batch RMSE is 0 where the
        batch is fit), nor a value the loss computed (a hinge, a gradient, a Laplacian), a loop's
        sample or a row: those can be 0 everywhere at once."""
        base = self._squared_base(node, with_abs=True)
        if not self._as_received(base) or _GRADIENT_NAME.search(base.value):
            return False  # only the batch the loss received; not a penalty's gradients (0 where the critic is flat)
        facts = self.facts(base)
        if facts.nonneg and not (facts.probability or facts.guarded):
            return False  # a mask or a count passed in: 0 over whole regions
        return facts.is_tensor and bool(facts.taint) and not facts.no_batch_axis and not facts.python_list \
            and not facts.boolean

    def _as_received(self, node) -> bool:
        """``node`` names a parameter of the loss not rebound since: the batch as the loss received
        it (not a value computed from it, a loop's sample, or a row picked out of it)."""
        return isinstance(node, cst.Name) and node.value in self.parameter_facts \
            and self.env.get(node.value) is self.parameter_facts[node.value]

    def _squares_of_a_vector(self, node) -> bool:
        """``x ** 2``, ``square(x)``, ``pow(x, 2)`` or ``x * x`` of a vector ``x`` that is not a
        difference: summed, its squared length."""
        base = self._squared_base(node)
        return base is not None and _a_vector(self.facts(base))

    def _einsum(self, op: Op) -> Facts:
        """``einsum("bi,bj->ij", z1, z2)``: a batch axis (each operand's first letter) that is
        missing from the output was contracted away (a D x D cross-correlation)."""
        operands = [self.facts(a) for a in op.args[1:]]
        terms, output = einsum_terms(op)
        letters = [term[:1] for term in terms]
        contracted = bool(output) and bool(letters) and all(letter and letter not in output for letter in letters)
        tainted = [f for f in operands if f.taint]
        inner, pair = None, EMPTY
        summed = set(terms[0]) & set(terms[1]) - set(output) if len(terms) == 2 else set()
        if len(summed) == 1 and terms[0][-1] == terms[1][-1] and terms[0][-1] in summed \
                and set(terms[0] + terms[1]) - summed <= set(output) \
                and all(len(set(term)) == len(term) for term in terms) and all(f.is_tensor for f in operands):
            # einsum("ik,jk->ij", a, b), einsum("ik,juk->iju", a, b): dot products of a's rows with
            # b's rows along their last axis, as a @ b.T
            texts = (_text(op.args[1]), _text(op.args[2]))
            inner, pair = ("self" if texts[0] == texts[1] else "cross"), frozenset(texts)
        return Facts(taint=_union(operands), no_batch_axis=contracted or bool(tainted) and all(
                         f.no_batch_axis for f in tainted),
                     bounded=bool(operands) and all(f.bounded for f in operands),  # cosines of unit vectors
                     opaque=_all_opaque(*operands) if operands else False,
                     inner=inner, inner_operands=pair, inner_pair=pair)

    def reduces_batch(self, op: Op) -> bool:
        """Whether a reduction op runs over the batch axis (every axis, axis 0, or where a transpose
        moved it): ``reduce_mean(x)`` and ``sum(x, axis=0)`` do, ``mean(x, axis=-1)`` does not."""
        return self._batch_reduction(op, self.facts(op.args[0]) if op.args else UNTAINTED)[0]

    def _batch_reduction(self, op: Op, first: Facts) -> tuple[bool, tuple | None]:
        """Whether a reduction runs over the batch axis (every axis, axis 0, or the axis a
        transpose moved the batch to), and where the batch axis is afterwards."""
        axis = op.arg(1, "axis", "dim", "axes", "reduction_indices")
        if axis is None or _is_none(axis):
            return True, None
        if first.batch_axis is None:
            return _mentions_zero(axis, self), None
        axes = _literal_axes(axis, self)
        if axes is None:
            return False, first.batch_axis  # an axis we cannot read: not the moved batch axis, as far as we know
        keepdims = any(isinstance(op.kwargs.get(word), cst.Name) and op.kwargs[word].value == "True"
                       for word in ("keepdims", "keepdim", "keep_dims"))
        reduced, after = _reduced_batch_axis(first.batch_axis, axes, keepdims)
        if reduced is None:  # where the batch axis is is not known: the default reading
            reduced = _mentions_zero(axis, self)
            after = None if reduced else after
        return reduced, after

    def _contracts_batch(self, op: Op) -> bool:
        """``tensordot(y_true, y_pred, axes=[axes, axes])`` summing the same axes of two batch
        tensors, axis 0 among them (or a list the code computes, such as every axis but the
        channels): the batch is contracted away, as in ``x.T @ x``."""
        axes = op.arg(2, "axes")
        if not isinstance(axes, (cst.List, cst.Tuple)) or len(axes.elements) != 2:
            return False
        sides = [element.value for element in axes.elements]
        if not all(self.facts(operand).is_tensor and not self.facts(operand).no_batch_axis for operand in op.args[:2]):
            return False
        if all(isinstance(side, cst.Name) for side in sides):
            # axes=[axes, axes]: the same list on both sides; a literal one must name axis 0
            known = self.facts(sides[0]).elements
            if known is not None:
                values = [element.literal for element in known]
                return sides[0].value == sides[1].value and 0 in values
            return sides[0].value == sides[1].value
        lists = [_literal_axes(side, self) for side in sides]
        return all(found is not None and 0 in found for found in lists)

    def _swaps_two_axes(self, op: Op) -> bool:
        """``q.permute(1, 0)`` (``permute((1, 0))``, ``swapaxes(q, 0, 1)``): the transpose of a matrix,
        as ``q.T``."""
        rest = list(op.args[1:])
        if op.name == "permute":
            order = _literal_axes(rest[0], self) if len(rest) == 1 else _literal_ints(rest, self) if rest else None
            return list(order or ()) == [1, 0]
        if op.name in ("swapaxes", "swapdims") and len(rest) == 2:
            return {self.facts(node).literal for node in rest} == {0, 1}
        return False

    def _reordered_batch_axis(self, op: Op, first: Facts) -> tuple | None:
        """Where ``x.permute(2, 0, 1)``, ``movedim(x, 0, -1)`` or ``swapaxes(x, 0, 1)`` puts the batch axis."""
        rest = list(op.args[1:])
        if op.name == "permute":
            order = _literal_axes(rest[0], self) if len(rest) == 1 else _literal_ints(rest, self) if rest else None
            return _permuted_batch_axis(first.batch_axis, order) if order else None
        pair = tuple(self.facts(node).literal for node in rest[:2])
        if len(pair) < 2 or None in pair:
            return None
        if op.name in ("swapaxes", "swapdims"):
            return _swapped_batch_axis(first.batch_axis, pair)
        return _moved_batch_axis(first.batch_axis, pair)


# ---- small helpers ----------------------------------------------------------------------


_SETTINGS_WORDS = frozenset({"meta", "metadata", "config", "cfg", "conf", "params", "hparams", "settings",
                             "options", "opts", "args", "kwargs", "hyperparams"})


def _names_settings(node) -> bool:
    """``cfg``, ``self.config``, ``outputs["dn_meta"]``: a mapping of settings, by its name or key."""
    if isinstance(node, cst.Subscript) and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index) \
            and isinstance(node.slice[0].slice.value, cst.SimpleString):
        name = node.slice[0].slice.value.raw_value
    else:
        name = terminal_name(node)
    return bool(set(name.lower().strip("_").split("_")) & _SETTINGS_WORDS)


def _names_a_normaliser(node) -> bool:
    """``num_positives``, ``normalizer``, ``self._avg_factor``: a name for what the loss is divided by."""
    name = terminal_name(node)
    return bool(name) and _NORMALISER_NAME.match(name.lstrip("_")) is not None


def _literal_axes(axis, evaluator: Evaluator) -> tuple[int, ...] | None:
    """The axes a literal ``axis`` argument names (``1``, ``(2, 0, 1)``, ``[-1]``); None otherwise."""
    nodes = [element.value for element in axis.elements] if isinstance(axis, (cst.List, cst.Tuple)) else [axis]
    return _literal_ints(nodes, evaluator)


def _literal_ints(nodes, evaluator: Evaluator) -> tuple[int, ...] | None:
    """The integers ``nodes`` hold, when every one is a literal (``permute(2, 0, 1)``'s arguments)."""
    values = [evaluator.facts(node).literal for node in nodes]
    if not values or any(value is None or value != int(value) for value in values):
        return None
    return tuple(int(value) for value in values)


# the batch axis was moved to a place the transposes seen do not pin down (x.T of a tensor of
# unknown rank): reductions then fall back to the default reading (axis 0 is the batch)
UNKNOWN_AXIS = (None, None)


def _same_axis(a: int, b: int, ndim: int | None) -> bool:
    """Two axis numbers name the same axis (with the number of axes unknown, ``1`` and ``-1`` do not)."""
    return a % ndim == b % ndim if ndim else a == b


def _at(position: int, ndim: int | None) -> tuple | None:
    """A batch axis at ``position``: None when that is axis 0 again (the default assumption)."""
    if ndim:
        position %= ndim
    return None if position == 0 else (position, ndim)


def _reversed_batch_axis(batch_axis: tuple | None) -> tuple | None:
    """``x.T``, ``tf.transpose(x)``: every axis in reverse order."""
    if batch_axis == UNKNOWN_AXIS:
        return batch_axis
    position, ndim = batch_axis or (0, None)
    # with the number of axes unknown, x.T of a vector is the vector itself: no claim then
    return _at(ndim - 1 - position % ndim, ndim) if ndim else UNKNOWN_AXIS


def _swapped_batch_axis(batch_axis: tuple | None, pair: tuple) -> tuple | None:
    """``x.transpose(0, 1)``, ``swapaxes(x, 0, 1)``: two axes change places."""
    if None in pair or batch_axis == UNKNOWN_AXIS:
        return batch_axis
    position, ndim = batch_axis or (0, None)
    a, b = (int(value) for value in pair)
    if not ndim and len({value < 0 for value in (position, a, b)}) > 1:
        return UNKNOWN_AXIS  # counted from different ends, the number of axes unknown
    if _same_axis(position, a, ndim):
        return _at(b, ndim)
    if _same_axis(position, b, ndim):
        return _at(a, ndim)
    return batch_axis


def _moved_batch_axis(batch_axis: tuple | None, pair: tuple) -> tuple | None:
    """``movedim(x, source, destination)``: one axis moves, the others keep their order."""
    if batch_axis == UNKNOWN_AXIS:
        return batch_axis
    position, ndim = batch_axis or (0, None)
    source, destination = (int(value) for value in pair)
    if _same_axis(position, source, ndim):
        return _at(destination, ndim)
    if not ndim:
        if min(position, source, destination) < 0:
            return UNKNOWN_AXIS  # counted from different ends, the number of axes unknown
        span = max(position, source, destination) + 1  # the axes after these keep their places
    else:
        span = ndim
    axes = list(range(span))
    axes.remove(source % span)
    axes.insert(destination % span, source % span)
    return _at(axes.index(position % span), ndim)


def _permuted_batch_axis(batch_axis: tuple | None, order: tuple[int, ...]) -> tuple | None:
    """``permute(x, order)``, ``tf.transpose(x, perm=order)``: new axis i is old axis ``order[i]``."""
    ndim = len(order)
    if batch_axis == UNKNOWN_AXIS:
        return batch_axis
    position, known = batch_axis or (0, None)
    if known is not None and known != ndim:
        return None
    old = [axis % ndim for axis in order]
    if position % ndim not in old or len(set(old)) != ndim:
        return None
    return _at(old.index(position % ndim), ndim)


def _expanded_batch_axis(batch_axis: tuple | None, inserted) -> tuple | None:
    """``expand_dims(x, k)``: a new axis at ``k`` shifts a moved batch axis behind it."""
    if batch_axis is None or batch_axis == UNKNOWN_AXIS:
        return batch_axis
    if inserted is None or inserted != int(inserted):
        return UNKNOWN_AXIS
    position, ndim = batch_axis
    inserted = int(inserted)
    if ndim:
        inserted %= ndim + 1
        return _at(position + (inserted <= position), ndim + 1)
    if (inserted < 0) != (position < 0):
        return UNKNOWN_AXIS  # counted from different ends, the number of axes unknown
    return _at(position + (inserted <= position) if position >= 0 else position - (inserted >= position), None)


def _reduced_batch_axis(batch_axis: tuple, axes: tuple[int, ...], keepdims: bool) -> tuple[bool | None, tuple | None]:
    """A reduction over ``axes`` of a value whose batch axis a transpose moved: whether it runs over
    the batch axis (None: unknown, read by the default), and where the batch axis is afterwards
    (None: gone, or back at axis 0)."""
    if batch_axis == UNKNOWN_AXIS:
        return None, UNKNOWN_AXIS
    position, ndim = batch_axis
    if any(_same_axis(position, axis, ndim) for axis in axes):
        return True, None
    if keepdims:
        return False, batch_axis
    if ndim:
        position %= ndim
        return False, _at(position - sum(axis % ndim < position for axis in axes), ndim - len(axes))
    if position < 0 and all(axis == 0 for axis in axes):
        # axis 0 and a batch axis counted from the end are one axis only in a vector, and a
        # value whose axes were moved has at least two: the batch stays where it is
        return False, batch_axis
    if any((axis < 0) != (position < 0) for axis in axes):
        return None, UNKNOWN_AXIS  # counted from different ends, the number of axes unknown
    if position >= 0:
        return False, _at(position - sum(axis < position for axis in axes), None)
    return False, _at(position + sum(axis > position for axis in axes), None)


def shared_batch_axis(inputs) -> tuple | None:
    """The moved batch axis of an elementwise result: the one its tensor operands agree on,
    counted from the right as broadcasting aligns them (None if any keeps the default axis 0)."""
    found = set()
    for facts in inputs:
        if not facts.is_tensor or facts.no_batch_axis:
            continue
        if facts.batch_axis is None:
            return None
        if facts.batch_axis == UNKNOWN_AXIS:
            return UNKNOWN_AXIS
        position, ndim = facts.batch_axis
        found.add((position - ndim, ndim) if ndim else (position, None))
    if len({position for position, _ in found}) != 1:
        return None
    position, _ = next(iter(found))
    if position >= 0:
        return (position, None)
    widest = max((ndim or 0) for _, ndim in found)
    return (widest + position, widest) if widest and all(ndim for _, ndim in found) else (position, None)


def _rows_of_a_table(base: Facts, index: Facts) -> bool:
    """``table[users]``: a table the loss knows nothing about (no taint: the model's embedding
    weights, what a method of the model returned) indexed by a batch of ids the loss was given as its
    prediction-side input (a recommender's ``bpr_loss(self, users, pos, neg)``). Not a mask, a
    shape, a host array, a detached or target-only index, or a list, mapping or constant table."""
    return not base.taint and not (base.python_list or base.mapping or base.shape or base.on_host
                                   or base.made_tensor or base.literal is not None or base.elements is not None) \
        and PRED in index.taint and not index.nograd and not index.boolean and not index.shape \
        and not index.python_list and not index.on_host and not index.no_batch_axis and not index.opaque


def _one_row_slice(part) -> bool:
    """``b:b + 1`` (or ``b:1 + b``): a slice of exactly one row, at a position the code names.

        >>> import libcst as cst
        >>> _one_row_slice(cst.parse_expression("x[b:b+1]").slice[0].slice), _one_row_slice(cst.parse_expression("x[:b]").slice[0].slice)
        (True, False)
    """
    if not isinstance(part, cst.Slice) or part.lower is None or part.upper is None or part.step is not None:
        return False
    upper = part.upper
    if not (isinstance(upper, cst.BinaryOperation) and isinstance(upper.operator, cst.Add)):
        return False
    lower = _text(part.lower)
    return (_text(upper.left) == lower and _text(upper.right) == "1") \
        or (_text(upper.right) == lower and _text(upper.left) == "1")


_GRADIENT_NAME = compile_lazily(r"grad", re.IGNORECASE)
_TAPE_NAME = compile_lazily(r"tape", re.IGNORECASE)  # tf.GradientTape() as tape, gp_tape, self.tape
_TRAINABLE_NAME = compile_lazily(r"trainable|variables|weights|params", re.IGNORECASE)


def _unsigned(node):
    """``x`` of ``-x`` and ``+x``, else ``node``."""
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, (cst.Minus, cst.Plus)):
        return node.expression
    return node


def _kept_by_a_constant(left: Facts, right: Facts, field: str) -> frozenset:
    """``field`` of the one side of ``a + c`` or ``c * a`` that has it, the other side a host
    constant (a smoothing term, a factor of 2)."""
    for side, other in ((left, right), (right, left)):
        if getattr(side, field) and not other.taint and not other.shape and not other.python_list:
            return getattr(side, field)
    return EMPTY


KERAS_INPUTS = "y_true, y_pred"  # the root of Keras's two loss tensors (see Facts.rank_of)


def _imports_keras(imports) -> bool:
    """The file imports TensorFlow or Keras under any name."""
    return imports is not None and any(q.split(".")[0] in ("tensorflow", "keras") for q in imports.aliases.values())


def _joined_rank(operands: list[Facts]) -> tuple | None:
    """The rank of an elementwise result of ``operands`` (host numbers aside): the largest, where
    every tensor among them has a known rank from one root; otherwise unknown."""
    ranks = [f.rank_of for f in operands if f.is_tensor]
    if not ranks or None in ranks or len({root for root, _ in ranks}) != 1:
        return None
    return min(ranks, key=lambda rank: rank[1])


def _keras_tensor_name(name: str) -> bool:
    """``y_true``, ``y_pred``, ``yTrue``: the names Keras gives a loss's two tensors."""
    return name.lower().replace("_", "") in ("ytrue", "ypred")


def _norm_pair(left: Facts, right: Facts) -> frozenset:
    """``norm(a) * norm(b)``, an outer product of them: the two values normed, else empty."""
    return frozenset({left.norm_of, right.norm_of}) if left.norm_of and right.norm_of else EMPTY


def _a_vector(facts: Facts) -> bool:
    """A value not known to be a difference, an error or its magnitude (an embedding, a feature
    map, a centroid; nothing computed with the target): its length is 0 only when every entry is
    exactly 0."""
    return TRUE not in facts.taint and not (facts.error or facts.magnitude or facts.difference
                                            or facts.max_shifted or facts.thresholded or facts.python_list)


_INTEGER_METHODS = frozenset({"long", "int", "bool", "byte", "short"})


def reducing_loss_class(op: Op) -> bool:
    """``keras.losses.BinaryCrossentropy()`` (a loss class, Keras's default reduction to the batch
    mean), not one built with ``reduction=None``/``"none"``/``"sum"``."""
    if op.is_method or not op.name[:1].isupper() or "losses" not in op.namespace.split(".") \
            or not op.namespace.startswith(("keras", "tensorflow")) or op.name == "Loss":
        return False
    if op.name in KERAS_UPPER_CASE_ALIASES:
        return False  # tf.keras.losses.MSE, KLD: aliases of the per-sample functions, not classes
    reduction = op.kwargs.get("reduction")
    if reduction is None:
        return True
    text = _text(reduction).lower()
    return "sum_over_batch_size" in text or "auto" in text


def _divides_by_own_sum(numerator, denominator, evaluator) -> bool:
    """``w / sum(w)``, ``w / maximum(sum(w), eps)``, ``w / (w.sum() + eps)``: weights normalised by
    their full sum."""
    inner = denominator
    if isinstance(inner, cst.BinaryOperation) and isinstance(inner.operator, cst.Add):
        for total, other in ((inner.left, inner.right), (inner.right, inner.left)):
            if not evaluator.facts(other).taint and evaluator.facts(other).literal is not None:
                inner = total  # w.sum() + 1e-8: an epsilon beside the sum
                break
    op = evaluator.op(inner) if isinstance(inner, cst.Call) else None
    if op is not None and op.name in ("maximum", "max", "clip", "clamp", "clip_by_value") and op.args:
        inner = op.args[0]
        op = evaluator.op(inner) if isinstance(inner, cst.Call) else None
    if op is None or op.name not in SUM_OPS or not op.args or op.arg(1, "axis", "dim") is not None:
        return False
    return _text(op.args[0]) == _text(numerator)


def _swapped_axis(axis: int | None, pair: tuple) -> int | None:
    """Where an inserted axis goes when ``transpose(a, b)`` swaps two axes. ``x.unsqueeze(-1)``
    of a (B, D) tensor is (B, D, 1): its last axis is 2, so ``transpose(0, 2)`` makes it a row
    (1, D, B), as voxceleb's AngleProto pairs every anchor with every positive."""
    if axis is None or None in pair:
        return axis
    first, second = int(pair[0]), int(pair[1])
    if axis == -1 and {first, second} == {0, 2}:
        axis = 2
    if axis == first:
        return second
    if axis == second:
        return first
    return axis


def _outer_operands(op: Op | None) -> tuple | None:
    """The two operands of an outer product: ``outer(a, b)``, ``ger(a, b)``, or an einsum of two
    operands that sums over no index (``einsum("i,j->ij", a, b)``, ``einsum("i,ju->iju", a, b)``:
    every index of the inputs is kept, so each entry is a product of one entry of each)."""
    if op is None:
        return None
    if op.name in ("outer", "ger") and len(op.args) >= 2:
        return op.args[0], op.args[1]
    if op.name == "einsum" and len(op.args) == 3 and isinstance(op.args[0], cst.SimpleString) \
            and "->" in op.args[0].evaluated_value and "." not in op.args[0].evaluated_value:
        terms, output = einsum_terms(op)
        if len(terms) == 2 and all(terms) and set("".join(terms)) <= set(output):
            return op.args[1], op.args[2]
    return None


def einsum_terms(op: Op) -> tuple[list[str], str]:
    """The index letters of each operand and of the output of ``einsum("bi, bj -> ij", ...)``
    (spaces dropped; the output is "" when the spec has no ``->``). The spec must be a literal."""
    inputs, _, output = op.args[0].evaluated_value.replace(" ", "").partition("->")
    return inputs.split(","), output


def _integer_dtype(op: Op) -> bool:
    dtype = op.arg(1, "dtype")
    if dtype is None:
        return False
    text = _text(dtype)
    return any(word in text for word in ("int", "bool")) and "float" not in text


_EMPTY_MODULE = cst.Module([])


def _text(node) -> str:
    """Source text of an expression ("" for a node that cannot be printed, or is too deep to print)."""
    try:
        return _EMPTY_MODULE.code_for_node(node)
    except (RecursionError, Exception):  # noqa: BLE001 - a text is a convenience, never a failure
        return ""


def _sign_fold(op: Op) -> str | None:
    """``where(x >= 0, -x, x)`` is ``-|x|`` ("nonpos"); ``where(x > 0, x, -x)`` is ``|x|`` ("nonneg")."""
    test = op.args[0]
    if not (isinstance(test, cst.Comparison) and len(test.comparisons) == 1):
        return None
    left, comparison = test.left, test.comparisons[0]
    right, operator = comparison.comparator, comparison.operator
    if _text(left) == "0" or _text(left) == "0.0":  # 0 <= x is x >= 0
        left, right = right, left
        operator = {cst.LessThan: cst.GreaterThan(), cst.LessThanEqual: cst.GreaterThanEqual(),
                    cst.GreaterThan: cst.LessThan(), cst.GreaterThanEqual: cst.LessThanEqual()}.get(
                        type(operator), operator)
    value = _text(left)
    if _text(right) not in ("0", "0.0", "0.") and not _text(right).endswith(f"zeros_like({value})"):
        return None
    if isinstance(operator, (cst.GreaterThan, cst.GreaterThanEqual)):
        when_positive, otherwise = op.args[1], op.args[2]
    elif isinstance(operator, (cst.LessThan, cst.LessThanEqual)):
        when_positive, otherwise = op.args[2], op.args[1]
    else:
        return None

    def negated(node) -> bool:
        return isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus) \
            and _text(node.expression) == value

    if negated(when_positive) and _text(otherwise) == value:
        return "nonpos"
    if _text(when_positive) == value and negated(otherwise):
        return "nonneg"
    return None


def _copies_edges(op) -> bool:
    """A pad that copies the values at the edges (``mode="replicate"``, ``"reflect"``,
    ``"circular"``, TF's ``"REFLECT"``/``"SYMMETRIC"``): every value it adds is one of the input's."""
    mode = op.arg(2, "mode")
    return mode is not None and _text(mode).strip("'\"").lower() in ("replicate", "reflect", "circular", "symmetric",
                                                                      "edge", "wrap")


def _two_factors(node, evaluator) -> tuple | None:
    """The two factors of ``a * b`` or ``multiply(a, b)``, else None."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Multiply):
        return node.left, node.right
    if isinstance(node, cst.Call):
        op = evaluator.op(node)
        if op is not None and op.name in ("multiply", "mul") and len(op.args) == 2:
            return op.args[0], op.args[1]
    return None


def _argument_nodes(args) -> list:
    """Call arguments, a list or tuple display (``torch.cat([a, b])``) read as its elements."""
    found = []
    for arg in args:
        if isinstance(arg, (cst.List, cst.Tuple)) and arg.elements:
            found.extend(e.value for e in arg.elements)
        else:
            found.append(arg)
    return found


def _cond_branches(op) -> tuple | None:
    """The bodies of ``tf.cond(test, lambda: a, lambda: b)`` (``jax.lax.cond`` with no operands
    too): what its value is made of."""
    if op.name != "cond" or op.namespace.split(".")[0] not in ("tensorflow", "jax") or len(op.args) < 3:
        return None
    first, second = op.args[1], op.args[2]
    if isinstance(first, cst.Lambda) and isinstance(second, cst.Lambda) \
            and not first.params.params and not second.params.params:
        return first.body, second.body
    return None


def _operands(node, evaluator) -> list:
    """The sub-expressions whose values flow into ``node``'s value (a mask or index does not)."""
    if isinstance(node, cst.BinaryOperation):
        return [node.left, node.right]
    if isinstance(node, cst.UnaryOperation):
        return [node.expression]
    if isinstance(node, cst.Comparison):
        return [node.left, *(c.comparator for c in node.comparisons)]
    if isinstance(node, cst.Subscript):
        return [node.value]
    if isinstance(node, cst.Attribute):
        return [node.value]
    if isinstance(node, cst.IfExp):
        return [node.body, node.orelse]
    if isinstance(node, cst.BooleanOperation):
        return [node.left, node.right]
    if isinstance(node, (cst.Tuple, cst.List, cst.Set)):
        return [e.value for e in node.elements]
    if isinstance(node, cst.Call):
        op = evaluator.op(node)
        if op is not None and op.name in WHERE_OPS and len(op.args) >= 3:
            return list(op.args[1:3])
        if op is not None and op.name in ("masked_fill", "masked_fill_") and op.args:
            return [op.args[0], *op.args[2:3]]
        branches = _cond_branches(op) if op is not None else None
        if branches is not None:
            return list(branches)
        if op is not None:
            return [*op.args, *op.kwargs.values()]
        if isinstance(node.func, cst.Attribute):  # dist.cdf(x): the object's gradient flows too
            return [node.func.value, *(a.value for a in node.args)]
        return [a.value for a in node.args]
    return []


_BIN_SYMBOL = {cst.Add: "+", cst.Subtract: "-", cst.Multiply: "*", cst.Divide: "/", cst.Power: "**",
               cst.MatrixMultiply: "@", cst.FloorDivide: "//", cst.Modulo: "%", cst.BitAnd: "&"}


_PREDICATE_PREFIXES = ("is_", "any_", "has_", "all_symbolic", "in_", "get_", "standardize_", "canonicalize_")
_PYTHON_VALUED_BUILTINS = frozenset({"isinstance", "hasattr", "callable", "type", "id", "str", "repr",
                                     "any", "all", "issubclass", "format"})
_TENSOR_DATA_ATTRIBUTES = frozenset({"real", "imag", "values", "data", "grad", "mT", "H", "flat"})
# metadata of a tensor or of a distribution object a network returned (``dist.event_shape``): host values
_OUTPUT_METADATA = frozenset({"grad_fn", "nbytes", "itemsize", "layout", "is_leaf", "names", "ndim", "dtype", "device",
                              "requires_grad", "training", "support", "arg_constraints", "has_rsample"})
# the fields of a model's output object (``if hasattr(logits, "logits"): logits = logits.logits``):
# the tensors it wraps, whatever the value holding them was taken for
_OUTPUT_FIELDS = frozenset({"logits", "last_hidden_state", "pooler_output", "start_logits", "end_logits",
                            "image_embeds", "text_embeds", "logits_per_image", "logits_per_text"})


def _nonnegative(facts: Facts) -> bool:
    """Known >= 0; an untainted hyperparameter (sigma, temperature) counts as positive, and a
    boolean mask (0 or 1, also after a cast: ``mask.float()``) as non-negative."""
    return facts.nonneg or facts.boolean or (_hyperparameter(facts) and not facts.nonpos) \
        or (not facts.taint and (facts.feature_count or facts.element_count or facts.shape)
            and (facts.literal is None or facts.literal >= 0))  # not -0.5 / r; d / float(dim), n * n - n


def _at_most_one(facts: Facts) -> bool:
    """Known <= 1: a cosine, tanh or probability, anything in [0, 1] or <= 0, a literal up to 1."""
    return facts.at_most_one or facts.unit or facts.nonpos or (facts.literal is not None and facts.literal <= 1)


def _all_opaque(*facts) -> bool:
    tainted = [f for f in facts if f.taint]
    return bool(tainted) and all(f.opaque for f in tainted)


def _is_stack_of_list(node, evaluator) -> bool:
    if node is None:
        return False
    if isinstance(node, (cst.List, cst.Tuple)):
        return True
    if isinstance(node, cst.Call):
        op = evaluator.op(node)
        if op is not None and op.name in ("stack", "hstack", "vstack") and op.args:
            # a new leading axis over a list of values (often per-output scalar losses), unless the
            # list's entries are known to keep the batch (its axis moved to 1)
            return evaluator.facts(node).batch_axis is None
        if op is not None and op.name in STACK_OPS and op.args:
            return evaluator.facts(op.args[0]).python_list or evaluator.facts(op.args[0]).opaque
    return False


def _is_one_minus_something(node) -> bool:
    return (isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Subtract)
            and isinstance(node.left, (cst.Integer, cst.Float)) and float(node.left.evaluated_value) == 1.0)


def _is_minus_one_plus_something(node) -> bool:
    """``-1 + eps``, ``-1.0 + self.eps``, ``eps - 1``, ``-(1 - eps)``: a lower bound just above -1
    (as ``1 - eps`` is an upper bound just below 1)."""
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        return _is_one_minus_something(node.expression)
    if not isinstance(node, cst.BinaryOperation):
        return False
    def minus_one(side) -> bool:
        return isinstance(side, cst.UnaryOperation) and isinstance(side.operator, cst.Minus) \
            and isinstance(side.expression, (cst.Integer, cst.Float)) and float(side.expression.evaluated_value) == 1.0

    def small_positive(side) -> bool:  # eps, self.eps, 1e-7: not -eps
        if isinstance(side, (cst.Integer, cst.Float)):
            return 0 < float(side.evaluated_value) < 1
        return bool(_EPS_NAME.search(terminal_name(side)))

    if isinstance(node.operator, cst.Add):
        return (minus_one(node.left) and small_positive(node.right)) or (minus_one(node.right) and small_positive(node.left))
    return isinstance(node.operator, cst.Subtract) and isinstance(node.right, (cst.Integer, cst.Float)) \
        and float(node.right.evaluated_value) == 1.0 and small_positive(node.left) \
        and not isinstance(node.left, (cst.Integer, cst.Float))


def _union(facts) -> frozenset:
    taint = EMPTY
    for item in facts:
        taint = taint | item.taint
    return taint


def _first(values):
    for value in values:
        if value is not None:
            return value
    return None


def _batch_position(target: cst.Tuple | cst.List) -> int:
    """Where the batch size sits in ``a, b, c = x.shape``: the first name that says batch size
    (``seq_len, batch_size, vocab = logits.shape``, ``t, b, c``), else the first position."""
    for position, element in enumerate(target.elements):
        if isinstance(element.value, cst.Name) and (_BATCH_SIZE_NAME.match(element.value.value)
                                                    or element.value.value in ("b", "B", "bsz", "nb", "batch")):
            return position
    return 0


def _a_sigmoid(node) -> bool:
    """``K.sigmoid(x)``, ``torch.sigmoid(x)``, ``x.sigmoid()``: a call of the sigmoid itself."""
    return isinstance(node, cst.Call) and terminal_name(node.func) == "sigmoid"


def _join(a: Facts, b: Facts) -> Facts:
    """What a value holds when it may be either (two branches, an in-place write into it)."""
    return Facts(taint=a.taint | b.taint, guarded=a.guarded and b.guarded, nonneg=a.nonneg and b.nonneg,
                 unit=a.unit and b.unit, at_most_one=_at_most_one(a) and _at_most_one(b),
                 maybe_list=a.maybe_list or b.maybe_list,
                 named_tensor=a.named_tensor and b.named_tensor, no_batch_axis=a.no_batch_axis and b.no_batch_axis,
                 nonpos=a.nonpos and b.nonpos, bounded=a.bounded and b.bounded,
                 batch_sum=a.batch_sum or b.batch_sum, shape=a.shape and b.shape,
                 batch_dim=a.batch_dim and b.batch_dim, magnitude=a.magnitude and b.magnitude,
                 python_list=a.python_list and b.python_list, opaque=_all_opaque(a, b),
                 probability=a.probability and b.probability, error=a.error and b.error,
                 max_of=tuple(name for name in a.max_of if name in b.max_of),
                 nograd=_without_gradient(a) and _without_gradient(b),
                 made_tensor=a.made_tensor and b.made_tensor,
                 batch_axis=a.batch_axis if a.batch_axis == b.batch_axis else None,
                 elements=tuple(_join(x, y) for x, y in zip(a.elements, b.elements))
                 if a.elements is not None and b.elements is not None and len(a.elements) == len(b.elements) else None)


def _without_gradient(facts: Facts) -> bool:
    return facts.nograd or not (facts.taint - {TRUE})


join_facts = _join


def nonzero_names(facts: Facts) -> tuple[str, ...]:
    """The values a condition says are nonzero where it holds (``den > 0``, ``(a > 0) & (den > 0)``)."""
    return ((facts.nonzero_of,) if facts.nonzero_of else ()) + facts.nonzero_also


def _masked_exp(exp: Facts, weight: Facts):
    """The exp node of ``exp(x) * mask``: an unbounded exp times a non-negative factor without
    gradient (a mask, data weights), summed next as a log-sum-exp by hand would be."""
    if exp.exp_node is not None and weight.is_tensor and _nonnegative(weight) and not weight.has_grad:
        return exp.exp_node
    return None


def _masks_positive(value: Facts, mask: Facts) -> bool:
    """``exp(s) * negatives_mask``: positive values (an exp, a guarded positive) times a mask that
    does not depend on the prediction; a sum over the unmasked entries stays positive."""
    positive = value.masked_positive or (value.guarded and value.nonneg)
    mask_like = mask.nonneg or mask.boolean or (not mask.taint and mask.bounded)
    return positive and mask_like and not (mask.taint - {TRUE}) and mask.literal is None


def _hyperparameter(facts: Facts) -> bool:
    """A Python number that is not a literal (``t``, ``self.temperature``): positive by intent when it
    scales a guarded value (a zero would be a configuration error, not a step's data)."""
    return not facts.taint and not facts.shape and facts.literal is None


def copies_to_the_cpu(op) -> bool:
    """``x.to("cpu")``, ``x.to(device="cpu")``, ``x.to(torch.device("cpu"), non_blocking=True)``:
    torch's ``to`` given the CPU as its device, a host copy as ``x.cpu()`` is.

        >>> import libcst as cst
        >>> from keras_bsguard.lint.calls import resolve_call
        >>> class NoImports:
        ...     def qualify(self, parts): return None
        >>> [copies_to_the_cpu(resolve_call(cst.parse_expression(t), NoImports()))
        ...  for t in ('x.to("cpu")', "x.to(device='cpu:0')", 'x.to(torch.device("cpu"))', "x.to(device)")]
        [True, True, True, False]
    """
    if not op.is_method or op.name != "to":
        return False
    device = op.kwargs.get("device")
    if device is None and len(op.args) >= 2:
        device = op.args[1]
    if isinstance(device, cst.Call) and terminal_name(device.func) == "device" and device.args:
        device = device.args[0].value  # torch.device("cpu")
    return isinstance(device, cst.SimpleString) and device.raw_value.split(":")[0] == "cpu"


def _moves_to_a_device(op) -> bool:
    """``x.cuda()``, ``x.to(device)``, ``x.type_as(pred)``, ``x.type(torch.cuda.FloatTensor)``,
    ``torch.as_tensor(x, device=d)`` (not ``device="cpu"``), ``torch.cuda.FloatTensor(x)``."""
    if copies_to_the_cpu(op):
        return False  # x.to("cpu"): to the host
    if op.name in _TO_DEVICE_METHODS or op.name == "type_as" or "cuda" in op.namespace.split("."):
        return True
    if op.name == "type" and any("cuda" in _text(a) for a in op.args[1:]):
        return True
    device = op.kwargs.get("device")
    return device is not None and _text(device).strip("'\"") != "cpu"


def _product_factors(node, through_divisions: bool = False) -> list:
    """The factors of ``a * b * c`` (parentheses dropped), in order; with ``through_divisions``
    denominators too: ``2 * ((c * a * b) / s)`` gives 2, c, a, b, s."""
    operators = (cst.Multiply, cst.Divide) if through_divisions else (cst.Multiply,)
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, operators):
        return _product_factors(node.left, through_divisions) + _product_factors(node.right, through_divisions)
    return [node]


def _signed_factors(node, evaluator) -> tuple[int, list]:
    """``-g * y * z`` as (-1, [g, y, z]): the factors of a product with its signs (unary minus,
    literal -1) gathered into one, the other factors as nodes."""
    sign, factors = 1, []
    for factor in _product_factors(node):
        while isinstance(factor, cst.UnaryOperation) and isinstance(factor.operator, cst.Minus):
            sign, factor = -sign, factor.expression
        inner = _product_factors(factor)
        if len(inner) > 1:  # -(a * b)
            inner_sign, inner_factors = _signed_factors(factor, evaluator)
            sign, factors = sign * inner_sign, factors + inner_factors
            continue
        literal = evaluator.facts(factor).literal if isinstance(factor, (cst.Integer, cst.Float)) else None
        if literal is not None and abs(literal) == 1:
            sign = sign if literal > 0 else -sign
            continue
        factors.append(factor)
    return sign, factors


def _softplus_of(node, evaluator):
    """``z`` in ``softplus(z)``, ``log1p(exp(z))`` or ``log(1 + exp(z))`` (a node), else None."""
    op = evaluator.op(node) if isinstance(node, cst.Call) else None
    if op is None or not op.args:
        return None
    if op.name == "softplus":
        return op.args[0]
    inner = op.args[0]
    if op.name == "log" and isinstance(inner, cst.BinaryOperation) and isinstance(inner.operator, cst.Add) \
            and evaluator.facts(inner.left).literal == 1:
        inner = inner.right
    elif op.name != "log1p":
        return None
    inner_op = evaluator.op(inner) if isinstance(inner, cst.Call) else None
    return inner_op.args[0] if inner_op is not None and inner_op.name == "exp" and inner_op.args else None


def _focal_exponent(left_node, right_node, evaluator) -> bool:
    """``g * y * z - g * softplus(z)`` with labels ``y`` (in [0, 1]): ``y * z <= softplus(z)``, so
    the difference is never positive (its exp is the focal modulator ``(1 - p_t) ** g``, at most 1).
    Signs may sit anywhere: ``-g * y * x - g * log(1 + exp(-1.0 * x))`` is the same with z = -x."""
    right_sign, right = _signed_factors(right_node, evaluator)
    softplus = [(i, _softplus_of(f, evaluator)) for i, f in enumerate(right)]
    softplus = [(i, z) for i, z in softplus if z is not None]
    if len(softplus) != 1 or right_sign < 0:
        return False
    position, z = softplus[0]
    scale_nodes = [f for i, f in enumerate(right) if i != position]
    z_sign, z_factors = _signed_factors(z, evaluator)
    left_sign, left_factors = _signed_factors(left_node, evaluator)
    if left_sign != z_sign:
        return False  # y * (-z) against softplus(z): no bound
    left = [_text(f) for f in left_factors]
    for factor in [*z_factors, *scale_nodes]:
        if _text(factor) not in left:
            return False
        left.remove(_text(factor))
    labels = [f for f in left_factors if _text(f) in left]
    if len(left) != 1 or len(labels) < 1:
        return False
    label, label_facts = labels[0], evaluator.facts(labels[0])
    if not label_facts.taint or PRED in label_facts.taint:
        return False  # y must be the labels (0 or 1), not a value of the prediction
    if not (label_facts.unit or (label_facts.nonneg and _at_most_one(label_facts))
            or (isinstance(label, cst.Name) and label_facts.named_tensor)):
        return False  # 2 * y - 1 is -1 for a negative: y * z can pass softplus(z)
    return all(_positive_scale(f, evaluator) for f in scale_nodes)  # a negative scale turns the inequality round


def _positive_scale(node, evaluator) -> bool:
    """A positive literal, or a hyperparameter whose default (when the loss gives one) is positive."""
    facts = evaluator.facts(node)
    if facts.taint:
        return False
    if facts.literal is not None:
        return facts.literal > 0
    name = node.value if isinstance(node, cst.Name) else node.attr.value if isinstance(node, cst.Attribute) else None
    default = evaluator.param_defaults.get(name) if name is not None else None
    return default is None or default > 0


def _above_one_less_one(left: Facts, right: Facts) -> bool:
    """``x * x - 1`` with ``x`` clamped to at least 1 + eps, ``relax + 2 - sigmoid(d)`` with ``relax``
    a non-negative setting: a value above one less a number of at most one (a literal, or a
    probability, cosine or tanh) is positive."""
    return left.above_one and ((not right.taint and right.literal is not None and right.literal <= 1)
                               or (bool(right.taint) and _at_most_one(right)))


def _above_one(one: Facts, other: Facts) -> bool:
    """``one + other`` is at least 1 + c (c > 0): 1 plus a positive value bounded away from zero,
    more than 1 plus a non-negative one, or a value already above one plus a non-negative one."""
    if not other.nonneg:
        return False
    if one.above_one:
        return True
    if one.taint or one.literal is None:
        return False
    return one.literal > 1 or (one.literal >= 1 and other.guarded)


def _folded_batch_axis(op: Op, batch_axis: tuple | None, ev) -> tuple | None:
    """Where ``x.view(C, -1)`` puts a batch axis that sat after axis 0 (``x.permute(1, 0, 2, 3)``):
    folded into the second of two axes, so the rows are channels (a whitening layer's C x C
    covariance ``T @ T.T``); None (axis 0, the default reading) otherwise."""
    if batch_axis is None or batch_axis == UNKNOWN_AXIS or not isinstance(batch_axis[0], int) or batch_axis[0] < 1 \
            or not _two_dims(op):
        return None
    shape = op.arg(1, "shape", "newshape")
    dims = [e.value for e in shape.elements] if isinstance(shape, (cst.Tuple, cst.List)) else list(op.args[1:])
    first, last = dims[0], dims[-1]
    minus_one = isinstance(last, cst.UnaryOperation) and isinstance(last.operator, cst.Minus) \
        and isinstance(last.expression, cst.Integer) and last.expression.value == "1"
    leading_kept = not (isinstance(first, cst.UnaryOperation) and isinstance(first.operator, cst.Minus)) \
        and not ev.facts(first).batch_dim  # x.transpose(0, 1).view(bsz, -1): the rows are the batch
    return (1, 2) if minus_one and leading_kept else None


def _two_dims(op: Op) -> bool:
    """``reshape(x, (B, -1))``, ``x.view(B, -1)``: exactly two axes."""
    shape = op.arg(1, "shape", "newshape")
    if isinstance(shape, (cst.Tuple, cst.List)):
        return len(shape.elements) == 2 and not any(isinstance(e, cst.StarredElement) for e in shape.elements)
    return op.is_method and len(op.args) == 3


def _int_literal(node) -> bool:
    """``3``, ``-1``: an integer written out."""
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        node = node.expression
    return isinstance(node, cst.Integer)


def _pure(node) -> bool:
    """An expression of names, attributes, subscripts and arithmetic only: no call (a draw, a
    dropout) that could give two different values where its text appears twice."""
    return not any(isinstance(inner, cst.Call) for inner in own_nodes(node))


def _positive_offset(facts: Facts) -> bool:
    """An untainted addend that keeps a value away from zero (eps, 1.0, smooth, a hyperparameter)."""
    if facts.taint or facts.shape or facts.zero:
        return False
    return facts.literal is None or facts.literal > 0


def _arith(left: Facts, right: Facts, symbol: str) -> float | None:
    if left.literal is None or right.literal is None:
        return None
    try:
        if symbol == "+":
            return left.literal + right.literal
        if symbol == "-":
            return left.literal - right.literal
        if symbol == "*":
            return left.literal * right.literal
        if symbol == "/":
            return left.literal / right.literal
    except ZeroDivisionError:
        return None
    return None


def _is_none(node) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def _whole_slice(part) -> bool:
    """``:`` with no bounds or step."""
    return isinstance(part, cst.Slice) and part.lower is None and part.upper is None and part.step is None


def _is_newaxis(node) -> bool:
    if _is_none(node):
        return True
    return isinstance(node, cst.Attribute) and node.attr.value == "newaxis"


def _mentions_zero(axis, evaluator: Evaluator) -> bool:
    if isinstance(axis, (cst.List, cst.Tuple)):
        return any(evaluator.facts(e.value).literal == 0 for e in axis.elements)
    return evaluator.facts(axis).literal == 0


def _peak_shift(left_node, left: Facts, right: Facts) -> bool:
    """``scores - peak``: the prediction's scores less a maximum of scores, as taken (not rescaled
    after the maximum, ``sim / t - sim.max()``, nor negated, ``-energy - energy.max()``)."""
    if not right.peak or PRED not in left.taint:
        return False
    if isinstance(left_node, cst.UnaryOperation) and isinstance(left_node.operator, cst.Minus):
        return False
    if isinstance(left_node, cst.BinaryOperation) and isinstance(left_node.operator, (cst.Multiply, cst.Divide)):
        return False  # scale * sim - hardest: the scale applied after the maximum was taken
    return True


def _shifts_back(reduced, shift) -> bool:
    """``max((s - m) * mask) + m``: the shift ``m`` taken off inside the reduction is added back
    (``max(...)[0]``, ``max(...).values`` of torch's reductions too)."""
    while isinstance(reduced, cst.Subscript) or (isinstance(reduced, cst.Attribute) and reduced.attr.value == "values"):
        reduced = reduced.value
    return isinstance(reduced, cst.Call) and bool(reduced.args) and isinstance(shift, cst.Name) \
        and any(isinstance(n, cst.Name) and n.value == shift.value for n in own_nodes(reduced.args[0].value))


def _picked_maximum(node: cst.Subscript) -> str | None:
    """``vec[0, argmax(vec)]``: the entry of ``vec`` at its own argmax, its maximum; the name of
    ``vec``, else None.

        >>> _picked_maximum(cst.parse_expression("vec[0, argmax(vec)]")), _picked_maximum(cst.parse_expression("v[argmax(w)]"))
        ('vec', None)
    """
    if not isinstance(node.value, cst.Name):
        return None
    for element in node.slice:
        index = element.slice.value if isinstance(element.slice, cst.Index) else None
        if isinstance(index, cst.Call) and terminal_name(index.func) == "argmax" and index.args \
                and isinstance(index.args[0].value, cst.Name) and index.args[0].value.value == node.value.value:
            return node.value.value
    return None


def _is_max_of(candidate, source, evaluator: Evaluator, reductions=MAX_REDUCE_OPS) -> bool:
    """``x - max(x, ...)``: the softmax stabilisation, whose exp never exceeds 1 (with
    ``reductions=MIN_REDUCE_OPS``: ``x - min(x)``, never negative)."""
    if isinstance(candidate, cst.Call):
        op = evaluator.op(candidate)
        if op is not None and op.name in STOP_OPS and op.args:
            return _is_max_of(op.args[0], source, evaluator, reductions)
        if op is not None and op.name in reductions and op.args:
            return _same_text(op.args[0], source)
    return False


def _sum_less_own_diagonal(left, right, evaluator: Evaluator) -> bool:
    """``s.sum(1) - s.diag()`` (or ``torch.diagonal(s)``) of a non-negative ``s``."""
    if not (isinstance(left, cst.Call) and isinstance(right, cst.Call)):
        return False
    total, diagonal = evaluator.op(left), evaluator.op(right)
    if total is None or diagonal is None or total.name not in SUM_OPS or diagonal.name not in ("diag", "diagonal", "diag_part") \
            or not total.args or not diagonal.args:
        return False
    diagonal_of = diagonal.args[0]
    # s[:, i * b:(i + 1) * b].diag(): entries s[k, i * b + k], each one of row k's (a block of columns)
    columns = _column_block_of(diagonal_of)
    return (_same_text(total.args[0], diagonal_of) or (columns is not None and _same_text(total.args[0], columns))) \
        and _nonnegative_tensor(evaluator.facts(total.args[0]))


def _exp_sum_less_a_term(total: Facts, term: Facts) -> bool:
    """``all_pairs - pos_pairs`` with ``all_pairs = exp(z1 @ z2.T / tau).sum(1)`` and ``pos_pairs =
    exp(sum(z1 * z2, 1) / tau)``: a sum of exps of bounded similarities less one exp of the same
    kind, the positive pair's term that the sum holds; the rest, the negatives' exps, is positive."""
    return bool(total.summed) and any("exp(" in text for text in total.summed) \
        and total.guarded and total.nonneg and total.bounded and PRED in total.taint \
        and term.guarded and term.nonneg and term.bounded and PRED in term.taint and not term.summed


def _column_block_of(node):
    """``s`` of ``s[:, a:b]`` (every row kept, a block of columns), else None."""
    if not (isinstance(node, cst.Subscript) and len(node.slice) == 2):
        return None
    rows, columns = node.slice[0].slice, node.slice[1].slice
    if isinstance(rows, cst.Slice) and rows.lower is None and rows.upper is None and rows.step is None \
            and isinstance(columns, cst.Slice):
        return node.value
    return None


def _positive_plus_sum_less_diagonal(left, right, evaluator: Evaluator) -> bool:
    """``(s.sum(1) + t.sum(1)) - s.diag()``: a positive term plus ``s``'s off-diagonal sum (the
    NT-Xent denominator, self-similarity left out)."""
    if not (isinstance(left, cst.BinaryOperation) and isinstance(left.operator, cst.Add)):
        return False
    for total, other in ((left.left, left.right), (left.right, left.left)):
        if _sum_less_own_diagonal(total, right, evaluator) and evaluator.facts(other).guarded:
            return True
    return False


def _nonnegative_tensor(facts: Facts) -> bool:
    return facts.nonneg and bool(facts.taint)


def _same_text(a, b) -> bool:
    if isinstance(a, cst.Name) and isinstance(b, cst.Name):
        return a.value == b.value
    text = _text(a)
    return bool(text) and text == _text(b)


_ZERO_EQUAL = (cst.Equal, cst.LessThanEqual, cst.LessThan)
_ZERO_TEST_OPS = frozenset({"equal", "eq", "less_equal", "le", "not_equal", "ne", "greater", "gt"})
_NONZERO = (cst.NotEqual, cst.GreaterThan)


# the last word of a name that holds a criterion: loss_fcn, loss_fn, ce_loss, criterion
_LOSS_CALLABLE_ENDINGS = frozenset({"loss", "criterion", "crit", "fn", "fcn", "func", "function"})


def _names_a_loss_callable(callee: str) -> bool:
    """``loss_fcn``, ``criterion``, ``ce_loss``, ``loss_func``: a name that says it holds a loss
    function (not ``loss_weights``, ``loss_scale``)."""
    words = name_words(callee)
    return bool(words) and words[-1] in _LOSS_CALLABLE_ENDINGS and bool({"loss", "criterion", "crit"} & set(words))


# libraries that compute on host arrays: a distance they return is a numpy array, not a tensor
_HOST_ARRAY_LIBRARIES = frozenset({"scipy", "sklearn", "numpy", "pandas", "cv2", "skimage", "PIL", "ot", "numba"})
_DISTANCE_NAME = compile_lazily(r"^_?((pairwise|euclidean|squared|cosine|l2|l1)_?)?(dist|distance|distances|cdist|pdist)$")
# names of covariance matrices (positive definite): sigma_p, Sigma, cov, covariance, precision
_COVARIANCE_NAME = compile_lazily(r"(^|[^a-z])(sigma|cov|covariance|precision)", re.IGNORECASE)
_BOUNDING_NAME = compile_lazily(r"clip|clamp|tanh|normali[sz]e|sigmoid|softmax|cosine_sim")
_EPSILON_NAME = compile_lazily(r"^(self\.)?(eps|epsilon|smooth|smoothing|tiny|small|min_value|clip_value)$", re.IGNORECASE)


def _an_epsilon(node) -> bool:
    """``eps``, ``self.smooth``, ``1e-7``: a small positive constant handed to a clip."""
    if isinstance(node, cst.Float):
        return 0 < float(node.value) < 0.01
    return isinstance(node, (cst.Name, cst.Attribute)) and bool(_EPSILON_NAME.match(_text(node)))
# function transforms that return the function they wrap, transformed (``jax.vmap(f)(x)`` runs ``f``)
FUNCTION_TRANSFORMS = frozenset({"vmap", "jit", "pmap", "filter_jit", "filter_vmap", "checkpoint", "remat"})
# a model's own layers called on the batch (``self.item_embedding(ids)``, ``self.proj(h)``): learned values
_LAYER_ATTRIBUTE = compile_lazily(r"(^|_)(emb|embed|embedding|embeddings|layer|layers|linear|fc\d*|proj|projection|"
                                  r"projector|head|mlp|encoder|decoder|conv\d*|attention|attn|rnn|lstm|gru|gnn|"
                                  r"transformer|net|network|backbone)$", re.IGNORECASE)
_MODEL_NAME = compile_lazily(r"^(model|net|network|module|encoder|decoder|backbone|generator|discriminator|"
                             r"critic|apply_fn|predict_fn|forward_fn|f|g|d|vgg\w*|feature_extractor|"
                             # a diffusion loss's network, handed in: denoise_fn(x_t, t), eps_model(x_t, t)
                             r"denoise_fn|denoiser|denoise_model|eps_model|eps_fn|score_model|score_fn|unet|"
                             # a Flax/Haiku network's apply function bound to a name: policy_apply, reward_model_apply
                             # (not mmdet's multi_apply, a map over images)
                             r"\w*(model|net|network|policy|actor|critic|encoder|decoder|generator|discriminator)"
                             r"_apply)$", re.IGNORECASE)
# a network handed to the loss as a parameter (or bound in it) and called there: a distillation
# loss's student(image), teacher_model(x), a flow-matching loss's vec_field_net(params, x, t); not
# a function named for what it does to a model (is_transition_model(m), build_model())
_HANDED_NETWORK_NAME = compile_lazily(r"^(student|teacher|"
                                      r"(?!_*(is|has|get|build|create|make|load|init|save|set|update|copy|clone|freeze|"
                                      r"wrap|to|from|run|call|train|use|with|check|reset|compile|restore|export|select|"
                                      r"sample)_)\w+_(model|net|network))$", re.IGNORECASE)


def names_a_handed_network(name: str) -> bool:
    """A parameter named as a network the loss runs (``policy_model``, ``ref_model``,
    ``teacher_net``), not as what one returned: bare ``student``/``teacher`` are as often the two
    models' logits (``kd_loss(student, teacher, T)``).

        >>> [names_a_handed_network(n) for n in ("policy_model", "teacher_net", "teacher", "get_model")]
        [True, True, False, False]
    """
    return bool(_HANDED_NETWORK_NAME.match(name)) and name.lower() not in ("student", "teacher")


_LIST_PRONE_NAMES = frozenset({"preds", "outputs", "predictions", "inputs", "features", "views", "crops", "xs",
                               "ys", "logitslist", "outs", "scales", "levels", "sentencefeatures"})


_TENSOR_PARAMETER_NAMES = (PRED_NAMES | TARGET_NAMES | {"logits", "embeddings", "embedding"}) - _LIST_PRONE_NAMES


def _may_be_a_list(name: str) -> bool:
    return name.lower().replace("_", "") not in _TENSOR_PARAMETER_NAMES


def _names_its_role(element, target) -> str | None:
    """TRUE for a name of the targets or of a mask (``y_true``, ``labels``, ``y_mask``) unpacked
    beside a name of the prediction (``y_true, y_mask, y_pred = inputs``); else None.

        >>> import libcst as cst
        >>> unpacked = cst.parse_expression("(y_true, y_mask, y_pred)")
        >>> [_names_its_role(e.value, unpacked) for e in unpacked.elements]
        ['true', 'true', None]
    """
    if not isinstance(element, cst.Name):
        return None
    names = [e.value.value.lower().replace("_", "") for e in target.elements if isinstance(e.value, cst.Name)]
    if not any(name in PRED_NAMES for name in names):
        return None
    name = element.value.lower().replace("_", "")
    if name in TARGET_NAMES:
        return TRUE
    # y_mask, loss_mask: data; pred_mask, out_mask, mask_logits: what the network predicted
    return TRUE if name.endswith("mask") and not _PREDICTED_MASK.search(name) else None


_PREDICTED_MASK = compile_lazily(r"pred|out|logit|prob|score|hat|est|recon")


def calls_a_model(func, evaluator) -> bool:
    """``model(x)``, ``self.net(x)``, ``model.apply(params, x)``, ``jax.vmap(model)(x)``: a network's forward pass."""
    if isinstance(func, cst.Call) and func.args and _text(func.func).split(".")[-1] in FUNCTION_TRANSFORMS:
        return calls_a_model(func.args[0].value, evaluator)  # vmap(model)(x), jit(model)(x)
    if isinstance(func, cst.Attribute) and func.attr.value in ("apply", "predict", "forward", "__call__"):
        func = func.value
    if isinstance(func, cst.Call) and _text(func.func).split(".")[-1][:1].isupper():
        return True  # Discriminator().apply(variables, x), Dense(4)(x): a module built and run in place
    if isinstance(func, cst.Name) and func.value in evaluator.network_names:
        return True
    if isinstance(func, cst.Name):
        return bool(_MODEL_NAME.match(func.value) or _HANDED_NETWORK_NAME.match(func.value)) \
            and not evaluator.env.get(func.value, UNTAINTED).taint
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
        return bool(_MODEL_NAME.match(func.attr.value) or _LAYER_ATTRIBUTE.search(func.attr.value))
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value != "self" \
            and calls_a_model(func.value, evaluator) \
            and (_MODEL_NAME.match(func.attr.value) or _LAYER_ATTRIBUTE.search(func.attr.value)):
        return True  # model.encoder(x), vae.decoder(z): a part of the network the loss was handed
    if isinstance(func, cst.Attribute) and func.attr.value in ("apply_fn", "predict_fn", "forward_fn"):
        return True  # state.apply_fn({"params": params}, x): a Flax TrainState's forward pass
    return False


# a gather across devices: all_gather, concat_all_gather, gather_features, GatherLayer (not torch.gather)
_GATHER_NAME = compile_lazily(r"(^|_)all_?gather(_|$)|^gather_(all|features|embeddings|tensors?)$|^gatherlayer$"
                              r"|^(sync|dist|distributed)_?gather")
# the gathers that keep the gradient (``GatherLayer.apply``, ``all_gather_with_grad``)
_GATHER_WITH_GRADIENT = compile_lazily(r"grad|layer", re.IGNORECASE)


def _given_sample_weights(call: cst.Call) -> bool:
    """``loss_fn(y_true, y_pred, sample_weight=w)``: a Keras criterion called with weights per
    sample (not torch's third and fourth tensors: a triplet's negative, CTC's lengths)."""
    return any(a.keyword is not None and a.keyword.value == "sample_weight" for a in call.args)


def _keys_or_items(node) -> bool:
    """``d.keys()`` or ``d.items()``: a mapping's keys (Python values), with or without its values."""
    return isinstance(node, cst.Call) and not node.args and isinstance(node.func, cst.Attribute) \
        and node.func.attr.value in ("keys", "items")


def _sums_by_keyword(op) -> bool:
    """A torch functional loss told to sum: ``reduction="sum"`` or the old ``size_average=False``."""
    reduction = op.kwargs.get("reduction")
    if isinstance(reduction, cst.SimpleString) and reduction.evaluated_value == "sum":
        return True
    size_average = op.kwargs.get("size_average")
    return isinstance(size_average, cst.Name) and size_average.value == "False"


def _flag_lookup(node: cst.Call) -> bool:
    """``mapping.get(key, False)``: a lookup whose default is a bool, number or string literal."""
    if not (isinstance(node.func, cst.Attribute) and node.func.attr.value == "get" and len(node.args) == 2):
        return False
    default = node.args[1].value
    if isinstance(default, cst.UnaryOperation):
        default = default.expression
    return isinstance(default, (cst.Integer, cst.Float, cst.SimpleString)) or \
        (isinstance(default, cst.Name) and default.value in ("True", "False"))


def _reads_a_shape(node) -> bool:
    """``f.shape``, ``f.shape[-2:]``, ``f.size()[2:]``: a tensor's sizes themselves (a count such
    as ``len(sample.labels)`` is a number per sample, not a size)."""
    while isinstance(node, cst.Subscript):
        node = node.value
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "size":
        return not node.args
    return isinstance(node, cst.Attribute) and node.attr.value == "shape"


def _set_like(facts: Facts) -> bool:
    """A Python container that set operators apply to (a set, a dict's keys), never a tensor."""
    return facts.python_list and not facts.batch_rows and not facts.tensor_parts and facts.elements is None


def _zero_test(node: cst.Comparison, evaluator) -> tuple[str | None, str | None]:
    """``(zero_of, nonzero_of)``: the text of X in ``X == 0`` / ``X <= 0`` / ``X < eps``, or in
    ``X != 0`` / ``X > 0``."""
    if len(node.comparisons) != 1:
        return None, None
    operator = node.comparisons[0].operator
    subject, bound = node.left, node.comparisons[0].comparator
    bound_facts = evaluator.facts(bound)
    if isinstance(operator, cst.GreaterThan) and not bound_facts.taint and not bound_facts.shape and _text(subject) \
            and _non_negative_setting(bound, bound_facts, evaluator):
        # x > threshold (a non-negative number or a setting): where it holds, x > 0
        return None, _text(subject)
    if bound_facts.taint or not (bound_facts.literal == 0 or bound_facts.guarded):
        return None, None
    text = _text(subject)
    if not text:
        return None, None
    if isinstance(operator, cst.LessThan) and bound_facts.literal == 0:
        return None, None  # x < 0 leaves x == 0 out: not where x is zero
    if isinstance(operator, _ZERO_EQUAL):
        return text, None
    if isinstance(operator, _NONZERO):
        return None, text
    return None, None


def _non_negative_setting(bound, facts: Facts, evaluator) -> bool:
    """A bound that is a non-negative literal, or a setting named as it is (``self.threshold``, a
    parameter whose default is not negative): not ``-self.margin``, not ``floor=-1.0``."""
    if facts.literal is not None:
        return facts.literal >= 0
    if isinstance(bound, cst.Name):
        default = (getattr(evaluator, "param_defaults", None) or {}).get(bound.value)
        return default is None or default >= 0
    return isinstance(bound, cst.Attribute)


def _adds_own_zero_test(left_node, right_node, left: Facts, right: Facts) -> bool:
    """``d + (d == 0) * eps`` or ``d + (d == 0).float()``: the zeros of ``d`` replaced.

    The comparison's ``zero_of`` travels through casts and constant factors, so this reads the
    facts of one operand instead of walking its subtree (additions chain on long sums)."""
    return _adds_zero_test_of(left_node, right, left) or _adds_zero_test_of(right_node, left, right)


def _adds_zero_test_of(value_node, test: Facts, value: Facts) -> bool:
    """``value + test`` where ``test`` is nonzero exactly where ``value`` is 0: ``(d == 0) * eps``,
    or ``1 - (d > 0)``, which replaces d's zeros only where d is not a signed difference (``pred -
    target`` can be -1, where ``d + 1`` is 0 again)."""
    if test.zero_of is None or test.zero_of != _text(value_node):
        return False
    return not (test.complement_mask and (value.difference or value.error))


def _carries_the_batch(facts: Facts) -> bool:
    """A tensor whose axis 0 is the batch: derived from the loss inputs, or a parameter named like
    one (``embeddings``), not a helper's ``scale_weights``."""
    if facts.batch_shaped:
        return True
    if facts.no_batch_axis or not facts.taint:
        return False
    return bool(facts.taint & {PRED, TRUE}) or not facts.maybe_list or facts.named_tensor


# the key of a criterion the loss builds in its own body (``mse = nn.MSELoss()``) among the
# ``self.<attr>`` ones of its class: no attribute name starts with it
LOCAL_CRITERION = "<local>."
# the key of a criterion built where it is called (``nn.L1Loss(reduction="sum")(p, t)``)
INLINE_CRITERION = "<inline>"


# names a module of array functions goes by (``torch.transpose(x)``, ``K.sum(x)``: not a method of ``x``)
ARRAY_MODULES = frozenset({"torch", "tf", "np", "jnp", "numpy", "K", "ops", "backend", "F", "keras", "tensorflow",
                           "jax", "kops", "math"})


def _transposed_base(node) -> cst.BaseExpression:
    """``x`` of ``x.t()``, ``x.T``, ``x.transpose(0, 1)``, ``torch.t(x)``; else the node."""
    if isinstance(node, cst.Attribute) and node.attr.value in ("T", "mT"):
        return node.value
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
            and node.func.attr.value in ("t", "transpose", "permute"):
        args = node.args
        if isinstance(node.func.value, cst.Name) and node.func.value.value in ARRAY_MODULES:
            # torch.t(x), torch.transpose(x, 0, 1), tf.transpose(x, [1, 0]), ops.transpose(x): a function
            return args[0].value if args and args[0].keyword is None and args[0].star == "" else node
        first = args[0].value if args else None
        if isinstance(first, cst.UnaryOperation):
            first = first.expression
        method = node.func.attr.value == "permute" or first is None or args[0].keyword is not None \
            or args[0].star != "" or isinstance(first, (cst.Integer, cst.Tuple, cst.List)) \
            or (len(args) >= 2 and not isinstance(args[1].value, (cst.Tuple, cst.List)) and args[1].keyword is None)
        # x.t(), x.transpose(0, 1), x.transpose(d0, d1), x.permute(*p): a method of the tensor; an
        # alias's transpose(x) (``kops.transpose(x)``): a function
        return node.func.value if method else args[0].value
    return node


def _enclosing_extent(left_node, right_node) -> bool:
    """``max(a_x2, b_x2) - min(a_x1, b_x1)``: the extent of the box enclosing two boxes (DIoU, GIoU),
    0 only where both boxes shrink to one point, not where a fit makes them agree."""
    if not all(isinstance(node, cst.Call) and terminal_name(node.func) in names for node, names in (
            (left_node, ("max", "maximum", "amax")), (right_node, ("min", "minimum", "amin")))):
        return False
    # max(p, t) - min(p, t) of the same two values is |p - t|, which a fit does drive to 0
    return {_text(arg.value) for arg in left_node.args} != {_text(arg.value) for arg in right_node.args}


def _scaled_squared_distance(symbol: str, left: Facts, right: Facts, facts: Facts) -> Facts:
    """``-gamma * d``, ``-d / (2 * z_var)``, ``beta @ dist`` with ``beta = 1 / (2 * sigmas)``: a
    non-negative (or non-positive) value such as a squared distance scaled by a parameter named as a
    kernel's width, whose sign is then the width's times the value's; ``2 * z_var``, ``1 / sigma``
    stay widths. A width is never guarded by this: ``log(var)`` can still be -inf."""
    constant = [side for side in (left, right) if not side.taint and side.literal is not None]
    other = (right if constant[0] is left else left) if constant else None
    if constant and constant[0].literal > 0 and other.kernel_width and (symbol == "*" or symbol == "/"):
        return replace(facts, kernel_width=other.kernel_width)  # 2 * z_var, 1 / sigma, z_var / 2
    pairs = ((left, right), (right, left)) if symbol in ("*", "@") else ((left, right),)
    for distance, width in pairs:
        if distance.kernel_width or not distance.taint or distance.nonneg == distance.nonpos:
            continue
        if not width.taint and width.literal is not None and distance.squared_distance:
            return replace(facts, squared_distance=True)  # its sign from the arithmetic
        if width.kernel_width:
            sign = width.kernel_width * (1 if distance.nonneg else -1)
            return replace(facts, squared_distance=distance.squared_distance, nonneg=sign > 0, nonpos=sign < 0)
    return facts


def _squared_rows_of(node) -> str | None:
    """The text of ``x`` in ``x ** 2``, ``x.pow(2)``, ``torch.square(x)``, ``x * x`` (whose sum over the
    feature axis is each row's squared norm), else None."""
    if isinstance(node, cst.BinaryOperation):
        if isinstance(node.operator, cst.Power) and _text(node.right) in ("2", "2.0"):
            return _text(node.left)
        if isinstance(node.operator, cst.Multiply) and _text(node.left) == _text(node.right):
            return _text(node.left)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        if node.func.attr.value == "pow" and len(node.args) == 1 and _text(node.args[0].value) in ("2", "2.0"):
            return _text(node.func.value)
        if node.func.attr.value == "square" and len(node.args) == 1:
            return _text(node.args[0].value)
    return None


def _signed_terms(node, sign: int = 1):
    """The terms of a chain of ``+`` and ``-`` with their signs: ``a - 2 * b + c`` -> a, +1; 2 * b, -1; c, +1."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Add, cst.Subtract)):
        yield from _signed_terms(node.left, sign)
        yield from _signed_terms(node.right, -sign if isinstance(node.operator, cst.Subtract) else sign)
    else:
        yield node, sign


def _minus_two_flipped(term, sign: int):
    """``-2 * zz`` or ``-2 * x @ y.T`` as the term ``2 * ...`` with the sign flipped, else as given."""
    product = term.left if isinstance(term, cst.BinaryOperation) and isinstance(term.operator, cst.MatrixMultiply) \
        else term
    if isinstance(product, cst.BinaryOperation) and isinstance(product.operator, cst.Multiply) \
            and isinstance(product.left, cst.UnaryOperation) and isinstance(product.left.operator, cst.Minus) \
            and isinstance(product.left.expression, (cst.Integer, cst.Float)) \
            and float(product.left.expression.evaluated_value) == 2.0:
        flipped = product.with_changes(left=product.left.expression)
        return (term.with_changes(left=flipped) if product is not term else flipped), -sign
    return term, sign


def _correlated_quadratic_form(left_node, right_node, evaluator) -> bool:
    """``(dx / sx) ** 2 + (dy / sy) ** 2 - 2 * (rho * dx * dy) / (sx * sy)`` with ``rho`` in
    [-1, 1] (a tanh): a bivariate Gaussian's quadratic form, at least (1 - |rho|)(a^2 + b^2) >= 0.

        >>> import libcst as cst
        >>> def check(right):  # a fresh evaluator each time: its memo is keyed by node identity
        ...     ev = Evaluator(imports=None, param_taints={})
        ...     ev.env["rho"] = Facts(taint=frozenset({PRED}), signed_unit=True, bounded=True)
        ...     left = cst.parse_expression("(dx / sx) ** 2 + (dy / sy) ** 2")
        ...     return _correlated_quadratic_form(left, cst.parse_expression(right), ev)
        >>> check("2 * ((rho * dx * dy) / sxsy)"), check("2 * ((w * dx * dy) / sxsy)")
        (True, False)
    """
    if not (isinstance(left_node, cst.BinaryOperation) and isinstance(left_node.operator, cst.Add)):
        return False
    bases = []
    for square in (left_node.left, left_node.right):
        if not (isinstance(square, cst.BinaryOperation) and isinstance(square.operator, cst.Power)
                and _text(square.right) in ("2", "2.0")):
            return False
        base = square.left
        while isinstance(base, cst.BinaryOperation) and isinstance(base.operator, cst.Divide):
            base = base.left  # (dx / sx) ** 2: the difference dx, scaled
        bases.append(_text(base))
    factors = _product_factors(right_node, through_divisions=True)
    texts = [_text(f) for f in factors]
    return "2" in texts and all(b in texts for b in bases) \
        and any(evaluator.facts(f).signed_unit for f in factors if _text(f) not in bases)


def _squared_distance_by_hand(left_node, right_node, symbol: str, evaluator) -> bool:
    """``rx.t() + ry - 2 * zz``, ``n - 2 * g + n.t()``: two squared-norm terms of exactly the tensors
    whose inner products one negative ``2 * x @ y.T`` term holds, and nothing else."""
    terms = [_minus_two_flipped(term, sign) for term, sign in
             list(_signed_terms(left_node)) + list(_signed_terms(right_node, -1 if symbol == "-" else 1))]
    negative = [term for term, sign in terms if sign < 0]
    positive = [term for term, sign in terms if sign > 0]
    if len(negative) != 1 or len(positive) != 2:
        return False
    operands = _twice_inner_products(negative[0], evaluator)
    norms = [evaluator.facts(term).squared_norms for term in positive]
    return bool(operands) and all(norms) and norms[0] | norms[1] == operands


def _twice_inner_products(node, evaluator) -> frozenset:
    """The operands' texts of ``2 * xx``, ``2. * zz``, ``xx * 2``, ``2 * x @ y.T`` with ``xx`` a matrix of
    inner products (empty for anything else): a squared distance needs the squared norms of exactly
    these tensors beside it."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.MatrixMultiply) \
            and _is_two(node.left) is not None:
        # 2 * x @ y.T is (2 * x) @ y.T
        twice = _is_two(node.left)
        if evaluator.facts(node.right).transposed and evaluator.facts(twice).is_tensor:
            return frozenset({_text(twice), _text(_transposed_base(node.right))})
        return EMPTY
    other = _is_two(node)
    if other is None:
        return EMPTY
    if isinstance(other, cst.Call) and _text(other.func).endswith("matmul") and len(other.args) >= 2 and any(
            arg.keyword is not None and arg.keyword.value == "transpose_b" and _text(arg.value) == "True"
            for arg in other.args):
        return frozenset({_text(other.args[0].value), _text(other.args[1].value)})  # tf.matmul(x, y, transpose_b=True)
    return evaluator.facts(other).inner_operands


def _is_two(node):
    """``t`` of ``2 * t``, ``2. * t`` or ``t * 2``, else None."""
    if not (isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Multiply)):
        return None
    for two, other in ((node.left, node.right), (node.right, node.left)):
        if isinstance(two, (cst.Integer, cst.Float)) and float(two.evaluated_value) == 2.0:
            return other
    return None


def _self_attribute(func: cst.BaseExpression) -> str | None:
    """``attr`` of ``self.attr``, else None."""
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
        return func.attr.value
    return None

"""Find the loss functions of a module; nothing outside them is ever reported.

A loss is (see DESIGN.md): a function whose first two parameters look like a target and a
prediction; the ``call``/``__call__``/``forward`` of a class deriving from a Keras ``Loss``; a
``compute_loss`` override; anything passed as ``loss=`` to ``compile`` in the same file (also in a
dict or list, and closures returned by a factory called there); configured name patterns; and,
transitively, the same file's helpers that a loss calls.

    >>> import libcst as cst
    >>> from keras_bsguard.lint.module_index import ModuleIndex
    >>> source = "def weighted(y_true, y_pred):\\n    return helper(y_pred)\\ndef helper(x):\\n    return x\\n"
    >>> [(l.name, l.kind) for l in find_losses(ModuleIndex.build(cst.parse_module(source)))]
    [('weighted', 'signature'), ('helper', 'helper')]
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

import libcst as cst

from .facts import ARRAY_MODULES, CONFIG_NAMES, names_a_duration, names_a_handed_network
from .tape_calls import differentiates_weights, tape_gradient_in
from .train_steps import per_step_region
from .module_index import ClassInfo, FunctionInfo, ModuleIndex, block_statements
from .names import called_name, decorated_no_grad, dotted_parts, terminal_name
from .score_direction import returns_signal_to_error_score
from .branch_reach import training_test
from .tree import children as tree_children
from .tree import all_nodes, own_nodes
from .vocabulary import MARGIN_HEAD, PRED_NAMES, ROLE_PRED_NAMES, TARGET_NAMES, is_role_target_pair, name_words
from .vocabulary import name_tokens as _name_tokens
from .vocabulary import split_camel as _split_camel
from .lazy_re import compile_lazily

TRUE, PRED, TENSOR = "true", "pred", "tensor"

_TARGET_NAMES = TARGET_NAMES
_PRED_NAMES = PRED_NAMES
_TENSOR_NAMES = frozenset({"sampleweight", "sampleweights", "weights", "mask", "masks", "x", "inputs"})
_HYPER_NAME = compile_lazily(
    r"^(alpha|beta|gamma|delta|eps|epsilon|margin|temperature|temp|tau|q|k|scale|smooth|smoothing|"
    r"axis|axes|dim|reduction|from_?logits|label_?smoothing|threshold|thresh|lam|lmbda|lambda_?|"
    r"power|p|order|ord|name|dtype|training|mode|keepdims|sigma|mu|ignore_?class|ignore_?index|"
    r"class_?weights?|pos_?weight|seed|verbose|debug|status|flag|.*_flag|"
    r".*_(rate|factor|coef|coeff|scale|size|weight|eps|margin|temperature|threshold)|"
    r"(apply|use|is|num|n|max|min)_.*|(.*_)?(epoch|step|iteration|update)(_num|_count|_idx)?|"
    # an STFT's or a convolution's configuration: hop_length, win_length, window_size, n_fft
    r"(hop|win|window|frame|fft|filter|kernel|patch|segment|chunk|block)_?(length|len|size|stride|shift)|"
    # a trajectory model's horizons: pred_length, obs_len (not seq_len or CTC's input_length: often tensors)
    r"(pred|obs)_?(length|len)|"
    # numbered loss weights (``w1``, ``lambda2``), a neighbourhood's radius or a kernel's bandwidth
    r"(w|lam|lambda|alpha|beta|gamma|weight)_?\d+|((particle|kernel|search|ball|neighbou?r)_)?radius|cutoff|"
    r"bandwidth)$",
    re.IGNORECASE,
)
_SCALAR_ANNOTATIONS = frozenset({"int", "float", "str", "bool"})
# Python containers in an annotation (``List[List[int]]``, ``dict``): host values unless the
# annotation names a tensor or array inside them
_CONTAINER_ANNOTATIONS = frozenset({"list", "List", "tuple", "Tuple", "Sequence", "Iterable", "dict", "Dict",
                                    "Mapping", "set", "Set"})
# Parameters that hold data rather than predictions: masks, lengths, and target-side tensors named
# with a target prefix or suffix (``target_scores_sum``, ``gt_bboxes``, ``valid_mask``)
_DATA_NAME = compile_lazily(r"(^|_)(masks?|lengths?|lens|seq_?lens?)$|^(target|targets|gt|labels?)_|"
                            r"_(targets?|gt|labels?)$", re.IGNORECASE)
# a prediction named for what it predicts (``loc_preds``, ``cls_logits``, ``box_pred``): the model's output
_QUALIFIED_PREDICTION = compile_lazily(r"^(?!(targets?|tgt|gt|true|labels?|teacher|ref|real|old|prev)_)"
                                       r"[a-z][a-z0-9]*_(preds?|predictions?|logits)(_[a-z0-9]+)?$", re.IGNORECASE)
_PREDICTED_NAME = compile_lazily(r"pred|logit|out|prob|score|hat|est", re.IGNORECASE)
# the target's own scores, logits or probabilities (a ranking or distillation target): data, whatever
# the noun after the prefix says
_TARGET_SCORES = compile_lazily(r"^(target|targets|tgt|gt)_(scores?|logits?|probs?|probabilit(y|ies)|dist)$", re.IGNORECASE)
# counts (``num_masks``), flags (``target_is_real``) and options (``label_smoothing``) are host values
_NOT_DATA_NAME = compile_lazily(r"^(num|n)_|_is_|smooth|weight|index|idx|type|mode|name", re.IGNORECASE)
# a settings attribute named for data a script may have put on the device (``args.class_weight``)
_DATA_ATTRIBUTE = compile_lazily(r"(^|_)(weights?|masks?|labels?|targets?|embeddings?|features?|tensors?|priors?)($|_)",
                                 re.IGNORECASE)
# Extra parameters of a loss that name tensors; any other extra parameter is a hyperparameter.
_TENSORISH = compile_lazily(r"mask|weight|label|target|feat|emb|logit|pred|prob|score|anchor|positive|negative|"
                            r"output|input|image|img|x$|^y|z$|^z|hidden|mu|logvar|sigma|dist|sim|centers?$", re.IGNORECASE)
# A VAE's latent statistics, named as a pair (``kld(mu, logvar)``, ``kl_loss(z_mean, z_log_var)``):
# the encoder's outputs for the batch. ``mu`` or ``sigma`` alone is a hyperparameter.
_LATENT_MEAN = compile_lazily(r"^((z|q|post|posterior|latent|enc)_?(mu|mean|loc)|mu(_?q|_?z)?)$", re.IGNORECASE)
_LATENT_SPREAD = compile_lazily(r"^((z|q|post|posterior|latent|enc)_?)?(log_?var|log_?sigma2?|log_?std|log_?scale|"
                                r"logv|sigma|std|var|scale)(_?q|_?z)?$", re.IGNORECASE)
# the input images a restoration or enhancement loss compares its output with: data, no gradient
# (``color_ratio_loss(enhanced, originals)``)
_INPUT_IMAGE_NAMES = frozenset({"original", "originals", "orig", "origs", "originalimage", "originalimages",
                                "inputimage", "inputimages", "lowlight", "degraded"})
# an image after a leading parameter that holds the prediction (``edge_aware_smoothness(flow, img)``:
# the image the predicted flow or depth is smoothed along); after a target or a mask
# (``loss(target, image)``, ``forward(self, mask, image)``) the image is the prediction
_PLAIN_IMAGE_NAMES = frozenset({"img", "imgs", "image", "images"})
# A parameter holding the data batch beside named predictions (``forward(self, predictions, batch)``)
_BATCH_DATA_NAMES = frozenset({"batch", "data", "sample", "samples", "minibatch", "batchdata", "databatch"})
# a reinforcement-learning batch's fields (``compute_loss(self, obs_t, act_t)``, ``observations``):
# data the loss runs its networks on, no gradient of their own (a bare ``actions`` or ``rewards``
# may be what a policy or reward model predicts: only the observations, and fields named with their
# time step or batch, are read so)
_TRANSITION_NAME = compile_lazily(r"^((next_?)?(obs|observations)(_?(t|tp1|t1|batch))?|"
                                  r"(obs|acts?|actions?|rews?|rewards?|dones?|terminals?)_?(t|tp1|t1|batch))$",
                                  re.IGNORECASE)
_HOST_OBJECT_NAMES = frozenset({"model", "module", "net", "network", "optimizer", "config", "cfg", "args", "opt",
                                "hparams", "params", "state", "trainer", "device", "tokenizer", "rng", "key",
                                "prngkey", "self", "cls", "batchidx", "step", "epoch", "iteration", "it", "iter",
                                "globalstep", "curiter", "curepoch",
                                # networks handed to the loss to run (a GAN's, a diffusion model's)
                                "generator", "discriminator", "critic", "denoiser", "unet", "scoremodel",
                                "epsmodel", "denoisefn", "denoisemodel", "epsfn", "scorefn"})
# parameter names (normalised) of per-sample metadata records: img_metas, batch_img_metas, metainfo
_METADATA_SUFFIXES = ("metas", "meta", "metainfo", "metainfos")
# a parameter holding the network that the loss calls (not ``params``: a JAX loss differentiates them)
_NETWORK_PARAM_NAMES = frozenset({"model", "net", "network", "module"})
LOSS_CLASS_METHODS = ("call", "__call__", "forward")
_METRIC_TOKENS = frozenset({"top", "topk", "hamming", "acc", "accuracy", "precision", "recall", "auc", "f1", "iou", "metric", "metrics",
                            "score", "fbeta", "mae_metric",
                            # rank correlations and a survival model's concordance index: counted from
                            # orderings (not "concordance": 1 - CCC, the concordance correlation, is a loss)
                            "spearman", "spearmanr", "kendall", "kendalltau", "cindex",
                            # speaker verification's equal error rate and minimum detection cost
                            "eer", "dcf", "mindcf"})
_LOSS_TOKENS = frozenset({"loss", "losses", "soft", "surrogate", "criterion", "cost", "penalty",
                          "ntxent", "xent", "infonce", "supcon", "nce"})
# Names that say a function checks, updates or formats: never a loss, whatever else they say.
_NEVER_A_LOSS_TOKENS = frozenset({"update", "format", "validate", "validation", "check", "test", "plot", "stats",
                                  "report", "summary",  # Loss_report, loss_summary: figures for a log
                                  # hungarian_matcher(outputs, targets): pairs predictions with targets
                                  "matcher", "assigner"})
# Names that say a function evaluates: what it computes is a figure for a report, not a loss to train on.
_EVALUATION_TOKENS = frozenset({"eval", "evaluate", "evaluation", "validation", "validate", "val", "test"})
# Names that say a function searches, evaluates or builds: not a loss unless they also say loss.
_NOT_A_LOSS_TOKENS = _NEVER_A_LOSS_TOKENS | frozenset({
                                "verify", "search", "find", "best", "optimal", "tune",
                                "eval", "evaluate", "evaluation", "stat", "report", "summary",
                                "confusion", "curve", "coef", "coefficient", "psnr", "kappa", "roc", "pr",
                                "create", "build", "make", "get", "factory", "select", "choose",
                                "calibration", "calibrate"})
# helpers that keep statistics, logs or plots beside the loss (``self.set_stats(...)``): not the loss value
_BOOKKEEPING_PREFIXES = ("set_stats", "update_stats", "log_", "print_", "plot_", "record_", "track_", "format_",
                         "visuali", "summari")
_NOT_A_LOSS_PREFIXES = ("plot_", "log_", "print_", "save_", "load_", "show_", "get_", "set_", "record_",
                        "report_", "track_", "update_", "reset_", "visuali", "summari", "register_")
# "loss" or "criterion" ending a word of a class name (``ATACloss_MNLLL``, ``FocalLoss``; not ``Glossary``)
_CRITERION_WORD = compile_lazily(r"(?:[Ll]oss|LOSS|[Cc]riterion|CRITERION)(?![a-z])")
# classes that keep losses for a log, named for the loss they keep: LossTracker, AverageLossMeter
_LOSS_BOOKKEEPING_WORDS = frozenset({"tracker", "meter", "history", "logger", "recorder", "monitor", "callback",
                                     "average", "avg", "accumulator", "counter", "scaler", "scheduler"})
# the model at inference: predict_by_feat, simple_test, _bbox_decode, postprocess
_INFERENCE_TOKENS = frozenset({"inference", "infer", "decode", "postprocess"})
_CRITERION_CLASS = compile_lazily(r"loss|criterion|nll$", re.IGNORECASE)  # GaussianNLL: a negative log-likelihood
# the "L_" prefix that names loss terms in low-light enhancement and image fusion code (Zero-DCE's
# L_color, L_spa, L_exp, L_TV; L_Grad, L_Intensity, L_SSIM): a loss class by its name
_LOSS_PREFIXED_CLASS = compile_lazily(r"^L_[A-Za-z]")
# the words (whole, any case) that make an "L_" class a layer or a network, not a loss term
_LAYER_NAME_WORDS = frozenset({
    "linear", "conv", "lstm", "gru", "rnn", "embedding", "embed", "sequential",
    "modulelist", "moduledict", "encoder", "decoder", "block", "layer", "layers", "net", "network", "model",
    "attention", "attn", "transformer", "norm", "batchnorm", "layernorm", "dropout", "pool", "head", "pretrained",
    "resnet", "vgg", "vit", "bert", "softmax", "activation", "relu", "gelu", "dense", "mlp", "ffn", "proj",
    "with", "wrapper", "bn", "fc", "ln", "se"})
# stems of layer words (L_Convolution, L_Deconv2d, L_Projection, L_Embeddings)
_LAYER_STEMS = ("conv", "deconv", "proj", "embed", "linear", "attention", "attn", "transformer", "pool", "dropout",
                "lstm", "gru", "rnn", "mlp", "activation")


def _a_layer_word(word: str) -> bool:
    """A whole word of a class name that names a layer: ``block``, ``norm``, ``conv2d``,
    ``convolution`` (not ``normal``, ``kinetic``)."""
    return re.sub(r"\d+d?$", "", word) in _LAYER_NAME_WORDS or word.startswith(_LAYER_STEMS)


# bases of a loss term's class: a plain module (not nn.Conv2d, nn.Linear), a loss base, or none
_MODULE_BASE = compile_lazily(r"^(Module|Layer|object)$|Loss$")

# a loss's short name as the last word of a class name: FocalBCE, LabelSmoothingCE, WeightedMSE
# (not MAE: masked autoencoders are called so too)
_CRITERION_SHORT_NAMES = frozenset({"bce", "ce", "mse", "nll", "kld", "xent", "focal", "huber", "tversky", "lovasz"})


def _names_a_criterion(info: FunctionInfo) -> bool:
    """The method's class is named as a loss: ``FocalLoss``, ``GaussianNLL``, or by the loss's
    short name when the method takes a prediction and a target (``FocalBCE``, ``WeightedMSE``)."""
    class_name = info.class_info.name
    words = name_words(class_name)
    return bool(_CRITERION_CLASS.search(class_name)) or (
        bool(words) and words[-1] in _CRITERION_SHORT_NAMES and len(_positional_names(info, required=True)) >= 2)


_MATCHING_WORDS = ("assigner", "matcher", "match_cost", "matching")
# Hungarian matchers, label assigners, match costs: they pair predictions with targets under
# no_grad; their "costs" are never differentiated
_MATCHING_CLASS = compile_lazily(r"(Matcher|Assigner|MatchCost|Search|Searcher)$")
_MATCHING_BASE = compile_lazily(r"Match|Assign")


# methods of a module that trains itself (a LightningModule, a Keras Model with its own step)
_TRAINING_METHODS = frozenset({"training_step", "configure_optimizers", "train_step"})


def _a_training_module(class_info, index=None, depth: int = 0) -> bool:
    """The class trains itself (``training_step``, ``configure_optimizers``, a Keras ``train_step``,
    its own or a same-file base class's): a model, whose ``forward``/``call`` is the network's
    forward pass even where its name says loss (``class KLLossMetricLearning(pl.LightningModule)``);
    its training step is read as one."""
    if _TRAINING_METHODS & set(class_info.methods):
        return True
    if index is None or depth > 5:
        return False
    for base in class_info.bases:
        parts = dotted_parts(base)
        if parts and len(parts) == 1 and parts[0] in index.classes and parts[0] != class_info.name \
                and _a_training_module(index.classes[parts[0]], index, depth + 1):
            return True
    return False


def _is_input_target_pair(names: list[str]) -> bool:
    """torch's criterion convention: ``forward(self, input, target)``."""
    return is_role_target_pair(names[0], names[1])


def _target_is_optional(info: FunctionInfo) -> bool:
    """``forward(self, x, target=None)``: the network's forward, which also runs without targets
    (inference) and computes its loss elsewhere when given them; a criterion needs its target."""
    params = [p for p in info.node.params.params if p.name.value not in ("self", "cls")]
    return len(params) >= 2 and params[1].default is not None and _is_none(params[1].default)


# what a whole model builds besides a margin head's weights
_WHOLE_MODEL_PART = compile_lazily(r"conv|backbone|resnet|sequential|encoder|pretrained|vgg|vit|bert|transformer|lstm|gru"
                                   r"|efficientnet|mobilenet|iresnet", re.IGNORECASE)


def _margin_under_the_labels(info: FunctionInfo) -> bool:
    """``forward(self, x, label=None)`` of a margin head that adds its margin under ``if label is
    not None:`` (and returns plain cosines for inference otherwise): the labelled branch is how it
    trains, so it is loss code even with the labels optional."""
    owner = info.class_info
    if owner is None or re.search(r"(model|net|network)$", owner.name, re.IGNORECASE) or any(
            _WHOLE_MODEL_PART.search(name) for _attr, name, _call in owner._init_constructions()):
        return False  # ArcFaceModel(backbone + margin): a model's forward, its training noise included
    return any(isinstance(node, cst.If) and optional_labels_test(node.test, info.node) is not None
               for node in own_nodes(info.node.body))


def optional_labels_test(test, function: cst.FunctionDef) -> bool | None:
    """``label is not None`` (True) or ``label is None`` (False), ``label`` being the function's
    second parameter (after ``self``) with ``None`` by default; None for any other test."""
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1 or not isinstance(test.left, cst.Name):
        return None
    comparison = test.comparisons[0]
    if not isinstance(comparison.operator, (cst.Is, cst.IsNot)) or not _is_none(comparison.comparator):
        return None
    params = [p for p in function.params.params if p.name.value not in ("self", "cls")]
    if len(params) < 2 or params[1].name.value != test.left.value or params[1].default is None \
            or not _is_none(params[1].default):
        return None
    return isinstance(comparison.operator, cst.IsNot)


def _looks_like_metric(name: str, metric_tokens: frozenset = _METRIC_TOKENS) -> bool:
    tokens = _name_tokens(name)
    words = name_words(name)
    # classification_error, frame_error_rate: 1 - accuracy, counted from decisions (not heart_rate_error)
    phrase = any(pair in _METRIC_PHRASES for pair in zip(words, words[1:]))
    return bool(tokens & metric_tokens or phrase) and not tokens & _LOSS_TOKENS


# what a factory's name says to make it a metric factory: not "top" (top_k_hinge) or "metric"
# (metric_learning_triplet), which name losses too
_FACTORY_METRIC_TOKENS = _METRIC_TOKENS - {"top", "topk", "metric"}


def _names_a_metric_factory(name: str) -> bool:
    """A factory named for what a metric counts (``metrics_precision``, ``classification_error``).

        >>> _names_a_metric_factory("metrics_precision"), _names_a_metric_factory("metric_learning_triplet")
        (True, False)
    """
    return _looks_like_metric(name, _FACTORY_METRIC_TOKENS)


_METRIC_PHRASES = frozenset({("classification", "error"), ("error", "rate"),
                             ("dice", "coe"), ("iou", "coe"), ("jaccard", "coe"), ("hard", "coe")})  # TensorLayer's


# what follows "loss" in a loss's name without changing what it is
_NAME_SUFFIXES = frozenset({"fn", "func", "function", "fun", "impl", "jax", "torch", "tf", "tensorflow", "keras",
                            "pt", "np", "v1", "v2", "v3", "old", "new", "fast", "naive", "ref",
                            # variants of one loss: sinkhorn_loss_primal / sinkhorn_loss_dual, dice_loss_batched
                            "primal", "dual", "exact", "approx", "vectorized", "vectorised", "batched",
                            # the whole batch at once: chamfer_loss_batch, chamferLossBatch
                            "batch", "batchwise",
                            # the dimension it works in: ctr_giou_loss_1d, dice_loss_3d
                            "1d", "2d", "3d", "nd"})


def _unnumbered(token: str) -> str:
    """``loss2`` -> ``loss`` (a second version of a loss), ``loss3d`` -> ``loss`` (the dimension it
    works in, camel-cased into the word: ``getTopoLoss3d``); other tokens as they are."""
    stem = token[:-1] if len(token) > 2 and token.endswith("d") and token[-2].isdigit() else token
    stem = stem.rstrip("0123456789")
    return stem if stem in ("loss", "losses", "criterion", "objective", "penalty") else token


# Helpers that assign targets to predictions (get_targets, _get_target_single, dynamic_k_matching,
# label assigners): data preparation the loss runs first, without gradient; not the loss itself.
_TARGET_PREPARATION = compile_lazily(r"get_\w*targets?|targets?_single|centerness_target|assign|match", re.IGNORECASE)


def prepares_targets(name: str) -> bool:
    """A helper named for target assignment (``get_targets``, ``_point_target_single``,
    ``get_assignments``, ``dynamic_k_matching``); ``build_targets`` (YOLO's per-step target
    grid, often a batch loop) and anything named a loss are not.

        >>> prepares_targets("_get_targets_single"), prepares_targets("build_targets"), prepares_targets("match_loss")
        (True, False, False)
    """
    return bool(_TARGET_PREPARATION.search(name)) and not _says_loss(name) and "build" not in name.lower()


def _says_loss(name: str) -> bool:
    """The name says loss: ``loss`` or ``cross_entropy`` in it (``soft_cross_entropy``)."""
    lowered = name.lower()
    return "loss" in lowered or "crossentropy" in lowered.replace("_", "")


# Words that end in "loss" without naming one (ArcFaceloss and focalloss do).
_NOT_LOSS_WORDS = frozenset({"gloss", "floss", "lossless"})
# Contrastive losses known by their paper's name, written as one word or two (nt_xent, InfoNCE).
_JOINED_LOSS_NAMES = ("ntxent", "infonce", "supcon")


def named_like_a_loss(name: str) -> bool:
    """Public name of :func:`_named_like_a_loss` for the rules.

        >>> named_like_a_loss("dice_loss"), named_like_a_loss("dice_parts")
        (True, False)
    """
    return _named_like_a_loss(name)


_STEP_FUNCTIONS = frozenset({"greater", "greater_equal", "less", "less_equal", "equal", "not_equal", "argmax",
                             "argmin", "round", "sign", "floor", "ceil"})


def _steps_on_the_prediction(node: cst.FunctionDef) -> bool:
    """The body thresholds, rounds or compares (``K.greater(p, 0.5)``, ``argmax``, ``p > 0.5``):
    a score counted from decisions, as a metric is, not a loss differentiated through."""
    return any(isinstance(n, cst.Comparison) or (isinstance(n, cst.Call) and terminal_name(n.func) in _STEP_FUNCTIONS)
               for n in own_nodes(node))


def _scores_on_the_host(info: FunctionInfo) -> bool:
    """A method of a class named like a metric (``IoU_multiple``, ``Accuracy``; an acronym such as
    IoU read whole) that copies its inputs to numpy (``.numpy()``): an evaluation counted on the
    host, not a loss to differentiate."""
    if info.class_info is None:
        return False
    name = info.class_info.name
    parts = {part.lower() for part in re.split(r"[_\W\d]+", name) if part}
    metric = _looks_like_metric(name) or (bool(parts & _METRIC_TOKENS) and not _name_tokens(name) & _LOSS_TOKENS)
    return metric and any(
        isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and n.func.attr.value == "numpy"
        for n in own_nodes(info.node))


def _gradient_penalty_by_initials(info) -> bool:
    """``WGAN_gp(real, fake, d_model)``, ``compute_gp(netD, x, y)``: named ``gp`` (a gradient
    penalty's initials) and differentiating inside (``autograd.grad``, ``tape.gradient``)."""
    return _split_camel(info.name).lower().split("_")[-1:] == ["gp"] and _penalises_a_critic(info)


def _penalises_a_critic(info) -> bool:
    """The function is handed (or holds) a critic and differentiates inside (``autograd.grad``,
    ``tape.gradient``): a gradient penalty's body."""
    # the critic it penalises comes in as a parameter (netD, d_model, critic, discriminator, D)
    params = [p.name.value for p in (*info.node.params.posonly_params, *info.node.params.params)]
    held = [n.func.attr.value for n in own_nodes(info.node) if isinstance(n, cst.Call)
            and isinstance(n.func, cst.Attribute) and isinstance(n.func.value, cst.Name) and n.func.value.value == "self"]
    if not any(_PENALISED_NETWORK.match(name) or _CRITIC_OUTPUT.match(name) for name in params) \
            and not any(_PENALISED_NETWORK.match(name) for name in held):
        return False  # sample_gp(x, lengthscale): a Gaussian process
    return any(isinstance(n, cst.Call) and isinstance(n.func, (cst.Attribute, cst.Name))
               and (n.func.attr.value if isinstance(n.func, cst.Attribute) else n.func.value)
               in ("grad", "gradient", "gradients") for n in own_nodes(info.node))


# a parameter holding the network a gradient penalty runs: the critic or discriminator
_PENALISED_NETWORK = compile_lazily(r"^(d|critic\w*|disc\w*|discriminator\w*|net_?d|d_?net|d_?model|model_?d|model|"
                                    r"net|f|netc|c)$", re.IGNORECASE)
# a parameter holding the critic's output an R1-style penalty differentiates (d_out, real_pred)
_CRITIC_OUTPUT = compile_lazily(r"^(d|disc|critic)_?(out|output|outputs|real|score|scores|logits?)$|^real_(pred|logits?|out)$",
                                re.IGNORECASE)


_HOST_LIBRARIES = frozenset({"numpy", "scipy", "sklearn", "pandas", "math", "statistics"})
_GRAPH_LIBRARIES = frozenset({"torch", "tensorflow", "keras", "tf_keras", "jax", "flax", "haiku", "equinox",
                              "optax", "mxnet", "paddle", "oneflow", "mindspore", "theano"})


def _host_library_module(index: ModuleIndex) -> bool:
    """The module imports host libraries (numpy, scikit-learn, scipy) and no framework that builds
    a graph: a ``(scores, labels)`` function there computes on host arrays (an evaluation's error
    rates), not a training loss; only its name or its use could say otherwise.

        >>> import libcst as cst
        >>> _host_library_module(ModuleIndex.build(cst.parse_module("import numpy\\nfrom sklearn import metrics\\n")))
        True
        >>> _host_library_module(ModuleIndex.build(cst.parse_module("import numpy as np\\nimport torch\\n")))
        False
    """
    roots = {qualified.split(".")[0] for qualified in index.imports.aliases.values()}
    return bool(roots & _HOST_LIBRARIES) and not roots & _GRAPH_LIBRARIES


# scores a loss negates to minimise them (``neg_sharpe_ratio``, ``negative_pearson``): not the
# words of negative sampling (``neg_samples``, ``negative_mining``)
_NEGATED_SCORE_WORDS = frozenset({"sharpe", "sortino", "pearson", "correlation", "corr", "cosine", "iou", "dice",
                                  "ssim", "psnr", "elbo", "r2"})


def _computes_for_a_loss_class(info) -> bool:
    """``LossComputer.compute(self, data, it)``: the one computing method of a class named for its
    loss that has no ``forward`` or ``call`` (the trainer calls ``compute`` and backpropagates)."""
    if info.name not in ("compute", "calculate") or not _positional_names(info) \
            or set(info.class_info.methods) & set(LOSS_CLASS_METHODS):
        return False
    tokens = [t for t in _split_camel(info.class_info.name).lower().split("_") if t]
    if not _named_like_a_loss(info.class_info.name) or not tokens:
        return False
    # LossComputer, YoloLoss, InfoNCE; not LossLogger, LossWeightScheduler, LossReport (a leading
    # "loss" names what the class handles, not a loss it computes)
    return tokens[0] != "loss" or tokens[-1] in ("loss", "losses", "computer", "calculator", "computation")


# ``<verb>_loss_<qualifier>``: the verbs that compute the loss, and the qualifiers that say the
# function computes something about it instead (its masks, weights, scale, a test of it)
_COMPUTING_VERBS = frozenset({"calc", "cal", "compute", "calculate", "comp"})
_NOT_A_LOSS_QUALIFIER = frozenset({"mask", "masks", "context", "manager", "test", "tests", "weight", "weights",
                                   "scale", "scales", "dict", "history", "steps", "names", "name", "fn", "func",
                                   "function", "functions", "inputs", "meta", "info", "cls", "classes", "type",
                                   "types", "schema", "registry", "conds", "factor", "normalizer", "stats", "log",
                                   "logs", "plot", "plots", "summary", "metrics", "epoch", "epochs", "landscape",
                                   "curve", "curves", "surface", "grid", "sweep", "table", "report"})


def _named_like_a_loss(name: str) -> bool:
    """``nt_xent_loss``, ``loss_fn``, ``supconLoss`` -- but not ``test_loss_goes_down``."""
    tokens: list[str] = []
    for token in _split_camel(name).lower().split("_"):
        if token == "d" and tokens and tokens[-1][-1:].isdigit():
            tokens[-1] += token  # DiceLoss2D: Dice_Loss2_D, the dimension split off
        elif token:
            tokens.append(token)
    tokens = [_unnumbered(t) for t in tokens]
    if not tokens or tokens[0] == "test":
        return False
    while len(tokens) >= 2 and (tokens[-1] in _NAME_SUFFIXES or tokens[-1].isdigit()):
        tokens = tokens[:-1]  # triplet_loss_fn, contrastive_loss_jax, focal_loss_v2, dice_loss2
    for position, token in enumerate(tokens[:-1]):
        if token == "loss" and tokens[position + 1] in ("with", "for", "using", "on", "from", "over", "via"):
            return True  # contrastive_loss_with_hard_negatives
    if tokens[-2:] == ["cross", "entropy"] or tokens[-1] in ("crossentropy", "xentropy"):
        return True  # cross_entropy(params, inputs, labels, apply_fn), softmax_cross_entropy
    if any(t in ("negative", "neg") for t in tokens[:-1]) and (
            tokens[-2:] == ["log", "likelihood"] or tokens[-1] in ("loglikelihood", "loglik")
            or (tokens[-1] == "likelihood" and "log" in tokens)):  # negative_log_cox_partial_likelihood
        # NegativeLogLikelihood, neg_log_likelihood: minimised, a loss (log_likelihood is not, nor is
        # NegativeBinomialLikelihood, a distribution head)
        return True
    if tokens[0] in ("neg", "negative") and len(tokens) >= 2 and set(tokens[1:]) & _NEGATED_SCORE_WORDS:
        return True  # neg_sharpe_ratio, negative_cosine_similarity, neg_pearson: a score negated to be minimised
    if len(tokens) >= 3 and tokens[0] in _COMPUTING_VERBS and tokens[1] == "loss" \
            and not set(tokens[2:]) & _NOT_A_LOSS_QUALIFIER:
        return True  # calc_loss_proper, compute_loss_hybrid: a loss computed one way (not compute_loss_masks)
    return tokens[-1] in ("loss", "criterion", "penalty", "xent", "nll", "nce") or tokens[0] == "loss" \
        or (tokens[-1].endswith("loss") and len(tokens[-1]) > 5 and tokens[-1] not in _NOT_LOSS_WORDS) \
        or any(t in _JOINED_LOSS_NAMES for t in tokens) \
        or (len(tokens) >= 2 and tokens[-2] + tokens[-1] in _JOINED_LOSS_NAMES)  # info_nce, InfoNCE, SupCon


def _names_a_negative_likelihood(name: str) -> bool:
    """``neg_log_likelihood``, ``negative_log_likelihood``, ``nll``: a method minimised in training
    (a CRF tagger's loss), not ``log_likelihood`` (a score).

        >>> [_names_a_negative_likelihood(n) for n in ("neg_log_likelihood", "nll", "log_likelihood", "neg_sample")]
        [True, True, False, False]
    """
    tokens = [t for t in _split_camel(name).lower().split("_") if t]
    return tokens in (["nll"], ["nll", "loss"]) or (
        bool(tokens) and tokens[0] in ("neg", "negative") and ("likelihood" in tokens or "loglik" in tokens))


def _called_ops(node: cst.FunctionDef, imports):
    """The resolved ops a function's own body calls (nested defs and classes excluded)."""
    from .calls import resolve_call

    stack = [node.body]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Call):
            op = resolve_call(current, imports)
            if op is not None:
                yield op
        if not isinstance(current, (cst.FunctionDef, cst.ClassDef)):
            stack.extend(tree_children(current))


def _computes_with_tensors(node: cst.FunctionDef, imports) -> bool:
    """Whether a body calls a tensor library at all (a loss-named helper of the CLI would not)."""
    from .names import TENSOR_NAMESPACES

    return any(op.namespace not in ("builtins", "math", "random") and (op.is_method or op.namespace in TENSOR_NAMESPACES
                                                                       or op.namespace == "torchvision.ops")
               for op in _called_ops(node, imports))


def _numpy_only(node: cst.FunctionDef, imports) -> bool:
    """The body calls numpy and no tensor library: host code (an evaluation), never differentiated.
    numpy's random draws do not count: a draw inside a loss is the bug BSG201 reports, nor do
    constants (``np.sqrt(252)``), nor is code on parameters annotated as tensors numpy-only."""
    if any(_tensor_annotated(param) for param in _own_params(node)):
        return False  # def neg_sharpe_ratio(outputs: torch.Tensor, ...): ... * np.sqrt(252)
    uses_numpy = False
    for op in _called_ops(node, imports):
        if op.is_method:
            continue
        top = op.namespace.split(".")[0]
        if top in ("tensorflow", "keras", "jax", "torch"):
            return False
        uses_numpy = uses_numpy or (top == "numpy" and not op.namespace.startswith("numpy.random")
                                    and not (op.args and all(_a_number_literal(a) for a in op.args)))
    return uses_numpy


def _leads_with_a_prediction(positional, unnamed_slots) -> bool:
    """The first parameter takes the prediction's slot: not a target, a mask or data by its name."""
    if not positional or not unnamed_slots or unnamed_slots[0] != PRED:
        return False
    first = positional[0].name.value
    key = _normalized(first)
    return key not in _TARGET_NAMES and key not in _INPUT_IMAGE_NAMES | _PLAIN_IMAGE_NAMES \
        and not _DATA_NAME.search(first) and key not in _BATCH_DATA_NAMES


def _normalized(name: str) -> str:
    return name.lower().replace("_", "")


@dataclass(eq=False)
class LossFunction:
    """One function whose body the rules read, and why it counts as a loss."""

    name: str
    node: cst.FunctionDef | cst.Lambda
    kind: str  # signature | loss-class | compute_loss | compile | factory | config | helper
    info: FunctionInfo | None = None
    param_taints: dict[str, frozenset[str]] = field(default_factory=dict)
    # parameters whose annotation, type comment or docstring says they hold Python values
    host_params: frozenset[str] = frozenset()
    # parameters documented as Python lists of tensors (``ref (List[torch.Tensor]): ... x n_spk``)
    tensor_list_params: frozenset[str] = frozenset()
    # parameters documented as one tensor with the batch first (``x: [B, n, d]``)
    tensor_params: frozenset[str] = frozenset()
    # parameters the docstring says are L2-normalised (``out_1 and out_2 are normalized``)
    normalized_params: frozenset[str] = frozenset()
    # parameters documented as probabilities (a softmax's output): positive, in [0, 1]
    probability_params: frozenset[str] = frozenset()
    # parameters documented with another axis before the batch (``PxVxNxC``)
    later_batch_params: frozenset[str] = frozenset()
    # for a helper: the loss (or helper) whose call first reached it
    caller: "LossFunction | None" = None
    # for a training loop or train step (kind "train-step"): the code that runs on every step
    region: tuple[cst.CSTNode, ...] | None = None

    @property
    def root(self) -> "LossFunction":
        """The loss a helper serves (following the first caller of each helper), itself for a loss."""
        loss, seen = self, set()
        while loss.caller is not None and id(loss) not in seen:
            seen.add(id(loss))
            loss = loss.caller
        return loss

    @property
    def keras_signature(self) -> bool:
        """Compiled into Keras or shaped like a Keras loss (``y_true, y_pred``): one tensor comes back."""
        return self.kind in ("compile", "factory", "config") or {"y_true", "y_pred"} <= set(self.param_taints)

    @property
    def returns_loss_value(self) -> bool:
        """Whether what the function returns is the loss itself (helpers return parts of it; a
        train step returns metrics, its loss is what it backpropagates)."""
        return self.kind not in ("helper", "train-step")


def find_losses(index: ModuleIndex, patterns: tuple[str, ...] = (), filename: str | None = None) -> list[LossFunction]:
    """Every loss function of the module, each once, in source order of discovery.

    ``filename`` tells the kind of module: in a test module nothing is a loss (unless a configured
    pattern names it), in a metrics module only what usage or its name says is a loss.
    """
    finder = _LossFinder(index, module_kind(filename))
    finder.metrics_file_only = _metrics_by_file_name_only(filename)
    finder.loss_module = _loss_module(filename)
    finder.collect(patterns)
    return [loss for loss in finder.losses if not _unused_private_method(loss, index) and not _a_stub(loss)
            and not _unused_inner_function(loss, index)]


def _a_stub(loss: LossFunction) -> bool:
    """A loss method that hands back nothing: every ``return`` is bare or ``return None`` and it
    backpropagates nothing itself (an unfinished ``forward`` that prints its inputs and returns
    None; not ``backward_G``, which calls ``.backward()`` and returns nothing).

        >>> import libcst as cst
        >>> stub = cst.parse_statement("def forward(self, pred, labels):\\n    print(labels)\\n    return None\\n")
        >>> _a_stub(LossFunction(name="P.forward", node=stub, kind="loss-class", param_taints={}))
        True
    """
    if loss.kind in ("helper", "train-step", "autograd") or not isinstance(loss.node, cst.FunctionDef):
        return False
    returns = [node for node in own_nodes(loss.node) if isinstance(node, cst.Return)]
    if not returns or any(r.value is not None and not (isinstance(r.value, cst.Name) and r.value.value == "None")
                          for r in returns):
        return False
    for node in all_nodes(loss.node):
        if isinstance(node, cst.Attribute) and node.attr.value in _UPDATES_WITHOUT_RETURN:
            return False  # it trains or stores what it computed (``self.loss = ...``, ``tape.gradient``)
        if isinstance(node, (cst.Assign, cst.AugAssign, cst.AnnAssign)) and any(
                isinstance(t, cst.Attribute) or (isinstance(t, cst.Subscript) and isinstance(t.value, cst.Attribute))
                for t in ([x.target for x in node.targets] if isinstance(node, cst.Assign) else [node.target])):
            return False  # self.loss = ..., self.history[k] = ... (a local H[0, 1] = ... keeps nothing)
    return True


# what a loss method that returns nothing does with its value instead: backpropagates it, hands it
# to the optimizer, or keeps it
_UPDATES_WITHOUT_RETURN = frozenset({"backward", "manual_backward", "gradient", "apply_gradients", "minimize",
                                     "step", "append", "extend", "update", "add_loss", "log"})


def _module_level_steps(module: cst.Module | None):
    """A script's or notebook's training loop at module level (``for x, y in loader: loss = ...;
    loss.backward(); optimizer.step()``): the module's statements, definitions left out, read as
    one function named ``<module>``, with the code that runs every step; None when there is none."""
    if module is None or not any(isinstance(s, (cst.For, cst.While, cst.With)) for s in module.body):
        return None
    body = [s for s in module.body if not isinstance(s, (cst.FunctionDef, cst.ClassDef))]
    function = cst.FunctionDef(name=cst.Name("module_level"), params=cst.Parameters(),
                               body=cst.IndentedBlock(body=body))
    region = per_step_region(function)
    return (function, region) if region is not None else None


def _after_their_holders(losses: list[LossFunction], index: ModuleIndex) -> list[LossFunction]:
    """The losses in source order, but a loss class another loss class builds and holds
    (``self.log_mag = LogMagnitudeLoss()``) right after its holder's loss methods: the holder's
    calls say what it is given, so it is read after them."""
    ordered = list(losses)
    for _ in range(len(ordered)):
        moved = False
        for position, loss in enumerate(ordered):
            owner = loss.info.class_info if loss.info is not None else None
            if owner is None:
                continue
            last_holder = max((p for p, other in enumerate(ordered) if other.info is not None
                               and other.info.class_info is not None and other.info.class_info is not owner
                               and owner in index.held_classes(other.info.class_info).values()), default=-1)
            if last_holder > position:
                ordered.insert(last_holder, ordered.pop(position))
                moved = True
                break
        if not moved:
            break
    return ordered


def _unused_private_method(loss: LossFunction, index: ModuleIndex) -> bool:
    """A ``_private`` method of a class that nothing in the file names but its ``def``, in a file
    that looks no method up by a computed name (``getattr(self, "_" + kind)``): dead code, which
    no training step runs (``EDL_Criterion._nll`` when ``forward`` uses ``_br`` and ``_reg``). Only
    in a class that has its own ``forward``/``call`` and is not named as a base class (whose
    private helpers a subclass elsewhere calls)."""
    info = loss.info
    if info is None or info.class_info is None or loss.kind in ("compile", "config") \
            or not info.name.startswith("_") or info.name.startswith("__") or index.references(info.name) != 1:
        return False
    entry = set(info.class_info.methods) & set(LOSS_CLASS_METHODS)
    base_like = re.search(r"^(Base|Abstract)|(Base|Mixin)$", info.class_info.name) is not None
    return bool(entry) and not base_like and _framework_bases_only(info.class_info, index) \
        and not index.looks_up_names()


def _unused_inner_function(loss: LossFunction, index: ModuleIndex) -> bool:
    """A function nested in another that nothing names but its own undecorated ``def``: the
    factory returns, calls or stores another of its inner functions (``ArcfaceLoss`` defines
    ``arcface_loss`` and ``arcface_loss_v4`` and returns only the latter), so no training step runs
    it. Not in a file that looks names up (``locals()[kind]``, ``vars()``, ``eval``, computed
    ``getattr``), nor for a decorated function (a registry may hold it).

        >>> import libcst as cst
        >>> from keras_bsguard.lint.module_index import ModuleIndex
        >>> source = "def make(m):\\n    def old(t, p):\\n        return p\\n    def new(t, p):\\n        return p * m\\n    return new\\n"
        >>> index = ModuleIndex.build(cst.parse_module(source))
        >>> [info.name for info in index.functions if _unused_inner_function(
        ...     LossFunction(name=info.name, node=info.node, kind="factory", param_taints={}, info=info), index)]
        ['old']
    """
    info = loss.info
    if info is None or info.parent is None or info.class_info is not None or info.node.decorators \
            or loss.kind in ("compile", "config"):
        return False
    return index.references(info.name) == 1 and not index.looks_up_names() and not any(
        (isinstance(node, cst.Name) and node.value in _NAME_LOOKUPS)
        or (isinstance(node, cst.Attribute) and node.attr.value in ("f_locals", "f_globals"))
        for node in all_nodes(index.module if index.module is not None else info.parent.node))


# builtins that find a function by a computed name (``locals()[kind + "_loss"]``, ``eval(name)``)
_NAME_LOOKUPS = frozenset({"locals", "vars", "globals", "eval", "exec"})


_FRAMEWORK_ROOTS = frozenset({"torch", "keras", "tensorflow", "tf", "flax", "haiku", "equinox"})


def _framework_bases_only(class_info: ClassInfo, index: ModuleIndex) -> bool:
    """The class derives from the framework's classes only (``nn.Module``, ``keras.losses.Loss``),
    or from nothing: no base class of the project could call its methods (a ``_compute_loss`` that
    a base class's ``forward`` runs is a template method, not dead code)."""
    for base in class_info.bases:
        parts = dotted_parts(base.value if isinstance(base, cst.Arg) else base)
        if not parts:
            return False
        qualified = index.imports.qualify(parts) or ".".join(parts)
        if qualified != "object" and qualified.split(".")[0] not in _FRAMEWORK_ROOTS:
            return False
    return True


_SCORING_MODULES = frozenset({"validators", "validator", "evaluators", "evaluator", "calibration",
                              # plots of saved predictions: nothing there is trained on
                              "visualize", "visualization", "visualise", "visualisation", "plotting", "plots"})


# scikit-learn's metrics named "loss": scores, wherever they are defined
_METRIC_LOSS_NAMES = frozenset({"hamming_loss", "zero_one_loss", "log_loss", "label_ranking_loss", "brier_score_loss",
                                "mean_pinball_loss", "d2_pinball_loss", "hamming_loss_fn"})


def _loss_module(filename: str | None) -> bool:
    """A module whose file or folder says it holds losses (``custom_losses.py``, ``losses/ssim.py``).

        >>> _loss_module("src/utils/custom_losses.py"), _loss_module("pkg/loss/pyramid.py"), _loss_module("pkg/model.py")
        (True, True, False)
        >>> _loss_module("codecs/lossy_image/entropy.py"), _loss_module("docs/glossary.py"), _loss_module("nets/myLoss.py")
        (False, False, True)
        >>> _loss_module("Myloss.py"), _loss_module("lossy.py")
        (True, False)
    """
    if not filename:
        return False
    parts = [p for p in re.split(r"[\\/]+", filename) if p]
    if not parts:
        return False
    # whole words (``losses``, ``loss_functions``, ``customLoss``), not ``lossy_codec`` or ``glossary``;
    # a file name that ends with the word (Zero-DCE's ``Myloss.py``)
    stem = parts[-1].rsplit(".", 1)[0]
    return bool(_LOSS_STEM_END.search(stem)) or any(_LOSS_WORD.search(part) for part in (stem, *parts[-3:-1]))


_LOSS_STEM_END = compile_lazily(r"(?i:loss(?:es)?)$")
_LOSS_WORD = compile_lazily(r"(?:^|[^A-Za-z])[Ll](?:oss|OSS)(?:es|ES)?(?:$|[^a-z])|[a-z]Loss")


# the words of a parameter name that say it holds the model's prediction (``predicted_pyramid``)
_PREDICTION_WORDS = frozenset({"pred", "preds", "predicted", "prediction", "predictions", "logits", "output",
                               "outputs", "yhat", "hat", "recon",  # x_hat, recon_x: a reconstruction
                               "enhanced", "estimate", "estimated", "estimates", "denoised", "restored"})  # an enhancer's output
# a policy's (log) probabilities: the prediction of a function whose name says loss
# (``get_actor_loss(self, log_probs, advantages)``); helpers that take them (``sharpen(probs, t)``)
# are not losses for that alone
_POLICY_WORDS = frozenset({"probs", "logprobs", "logp"})


# what follows "loss" in a name that is about the loss rather than the loss itself
# (``compute_loss_weights``, ``plot_loss_curve``, ``loss_scale``)
_LOSS_ATTRIBUTE_WORDS = frozenset({"weight", "weights", "history", "curve", "curves", "scale", "scaler", "value",
                                   "values", "log", "logger", "tracker", "dict", "list", "names", "name", "type",
                                   "kind", "factory", "builder", "registry", "map", "config", "cfg", "params",
                                   "args", "ratio", "window", "meter", "avg", "terms", "parts", "items", "keys",
                                   "fns", "functions", "objects", "closure", "wrapper", "hook"})


def _loss_word_inside(name: str) -> bool:
    """``content_loss_vgg``, ``dice_loss_multiclass``: "loss" inside a name, followed by what says
    which variant it is (not ``compute_loss_weights``, ``plot_loss_curve``).

        >>> _loss_word_inside("content_loss_vgg"), _loss_word_inside("compute_loss_weights")
        (True, False)
    """
    words = name_words(name)
    if "loss" not in words[1:-1]:
        return False
    after = words[words.index("loss", 1) + 1:]
    return not set(after) & _LOSS_ATTRIBUTE_WORDS \
        and not set(words) & (_NOT_A_LOSS_TOKENS | _METRIC_TOKENS | _EVALUATION_TOKENS)


_DOMAIN_WORDS = frozenset({"source", "src"})  # a domain-adaptation loss's features of the source domain
_TARGET_DOMAIN_WORDS = frozenset({"target", "tgt", "tar"})  # and of the target domain


def _compares_two_domains(info) -> bool:
    """``(source, target)``, ``(src_features, tgt_features)``: a domain-adaptation loss (MMD, CORAL)
    compares the model's features of two domains, both with the prediction's gradient.

        >>> import libcst as cst
        >>> f = cst.parse_statement("def coral(source, target):\\n    return source\\n")
        >>> _compares_two_domains(type("Info", (), {"node": f})), _compares_two_domains(type("Info", (), {"node": cst.parse_statement("def f(x, target):\\n    return x\\n")}))
        (True, False)
    """
    params = [*info.node.params.posonly_params, *info.node.params.params]
    tokens = [set(p.name.value.lower().split("_")) for p in params if p.default is None]
    return any(t & _DOMAIN_WORDS for t in tokens) and any(t & _TARGET_DOMAIN_WORDS for t in tokens)


# torch's criterion convention names the prediction ``input`` (``F.cross_entropy(input, target)``)
_INPUT_WORDS = frozenset({"input"})


def _takes_input_and_target(info) -> bool:
    """``def rpn_smoothL1(input, target, label, num_pos=16)``: torch's criterion convention, the
    prediction named ``input`` and the target next, neither with a default, and a criterion called
    on them (``(inputs, labels)`` of an augmentation or an attack is not enough).

        >>> f = cst.parse_statement("def balanced(input, target, num_pos):\\n    return F.l1_loss(input, target)\\n")
        >>> _takes_input_and_target(type("Info", (), {"node": f}))
        True
    """
    params = [*info.node.params.posonly_params, *info.node.params.params]
    names = [p.name.value for p in params if p.default is None and p.name.value not in ("self", "cls")]
    return len(names) >= 2 and names[:2] == ["input", "target"] and _calls_a_criterion(info.node)


def _calls_a_criterion(function) -> bool:
    """The body calls a criterion (``F.cross_entropy``, ``F.smooth_l1_loss``, ``nll_loss``): it
    computes a loss, not a resize, a count or an augmentation of its inputs."""
    return any(isinstance(node, cst.Call) and (called_name(node) or "").endswith(_CRITERION_CALLS)
               for node in own_nodes(function))


_CRITERION_CALLS = ("_loss", "cross_entropy", "crossentropy", "binary_cross_entropy_with_logits", "kl_div")


def _takes_a_prediction(info, words: frozenset = _PREDICTION_WORDS) -> bool:
    """One positional parameter named for the prediction (``predicted_pyramid``, ``pred_boxes``) and
    at least one more, neither with a default (``dim=1`` is an option): what a loss compares."""
    params = [*info.node.params.posonly_params, *info.node.params.params]
    names = [p.name.value for p in params if p.default is None and p.name.value not in ("self", "cls")]
    return len(names) >= 2 and any(words & set(n.lower().split("_")) for n in names)


# a class whose name says it is a loss, which may hold a module of the file it runs
# held modules named for a network a loss runs (a perceptual VGG, a discriminator): reported
# where the loss calls them, as another network, not linted as part of the loss
_HELD_NETWORK = compile_lazily(r"vgg|resnet|inception|efficientnet|lpips|(?<![a-z])bert", re.IGNORECASE)
# held classes named as a network or model (``FeatureNet``, ``PerceptualModel``): another network
# when they build learnable layers or load a model (a fixed Sobel ``GradientNet`` is the loss's own work)
_HELD_NET_NAME = compile_lazily(r"Net\d*$|Model$")
# calls in a module's __init__ that make it a network: learnable layers, loaded or pretrained models
_LEARNABLE_CALL = compile_lazily(r"linear|conv(?!ert)|lstm|gru|rnn|embedding|sequential|module(list|dict)|dense"
                                r"|(?<=.)norm(?!al)|attention|transformer|mlp|bilinear|prelu|^load$|^load_|from_pretrained"
                                r"|vgg|resnet|inception|^vit|(?<![a-z])bert|efficientnet|mobilenet|densenet|lpips|block"
                                r"|layer|head|backbone|extractor|network|bottleneck|deepcopy|create_model|Net\d*$|Model$"
                                r"|Encoder$|Decoder$", re.IGNORECASE)
_HOLDING_LOSS_CLASS = compile_lazily(r"((?i:loss)|Criterion|Objective)\d*$|^L_[A-Za-z]")  # Fusionloss, L_Grad
_WRAPPER_CLASS = compile_lazily(r"With|Wrapper|Model|Net(?!ral)", re.IGNORECASE)
# held modules whose work is not loss computation: samplers and miners (under no_grad), augmentations
_NOT_LOSS_WORK_CLASS = compile_lazily(r"Sampler|Miner|OTA|Aug|Noise|Dropout|Jitter|Transform", re.IGNORECASE)


def _called_self_attributes(node) -> set[str]:
    """The ``self`` attributes the function calls (``self.grad_layer(x)``, or their ``forward``),
    not those it only reads (``self.clf.parameters()``, ``self.backbone.eval()``)."""
    called = set()
    for call in own_nodes(node):
        if not isinstance(call, cst.Call):
            continue
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value in ("forward", "__call__") \
                and isinstance(func.value, cst.Attribute):
            func = func.value
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
            called.add(func.attr.value)
    return called


def _returns_a_complement(node: cst.FunctionDef) -> bool:
    """Every ``return`` gives a score turned into something to minimise: ``-K.mean(iou)``,
    ``1 - dice``. A function named for the score (``IoU``) that returns that is its loss.

        >>> f = cst.parse_module("def IoU(t, p):\\n    return -K.mean(t * p)\\n").body[0]
        >>> _returns_a_complement(f)
        True
    """
    values = [n.value for n in own_nodes(node) if isinstance(n, cst.Return)]
    tests = {id(n) for statement in own_nodes(node) if isinstance(statement, (cst.If, cst.While))
             for n in own_nodes(statement.test)}
    if any(id(n) not in tests and (isinstance(n, cst.Comparison) or (
            isinstance(n, cst.Call) and terminal_name(n.func) in _STEP_FUNCTIONS)) for n in own_nodes(node)):
        return False  # 1 - mean(equal(argmax(y), argmax(p))): an error rate, a metric (an ``if`` test is a guard)
    return bool(values) and all(
        (isinstance(v, cst.UnaryOperation) and isinstance(v.operator, cst.Minus))
        or (isinstance(v, cst.BinaryOperation) and isinstance(v.operator, cst.Subtract)
            and isinstance(v.left, (cst.Integer, cst.Float)) and v.left.evaluated_value == 1)
        or (isinstance(v, cst.Call) and terminal_name(v.func) == node.name.value)  # a recursive case
        for v in values)


def _read_names(node) -> set[str]:
    """The names an expression reads (not attribute names: ``x.shape`` reads ``x``)."""
    attributes = {id(n.attr) for n in own_nodes(node) if isinstance(n, cst.Attribute)}
    return {n.value for n in own_nodes(node) if isinstance(n, cst.Name) and id(n) not in attributes}


def _gets_a_computed_loss(info: FunctionInfo) -> bool:
    """``get_loss(self, preds, masks)`` that returns what it computes from the prediction: a loss
    under a getter's name (``get_loss(name)`` that picks a criterion is a factory).

        >>> f = cst.parse_module("def get_loss(preds, masks):\\n    return 1 - (preds * masks).mean()\\n").body[0]
        >>> _gets_a_computed_loss(FunctionInfo(f, "get_loss", None, None))
        True

    So is ``get_gradient_penalty(x, x_gen, discriminator)`` that differentiates the critic inside.
    """
    if not info.name.lower().startswith("get_"):
        return False
    last = _split_camel(info.name).lower().split("_")[-1]
    if last == "penalty" and _penalises_a_critic(info):
        return True  # get_gradient_penalty(x, x_gen, discriminator): the penalty, computed here
    if last == "loss" and _returns_from_prediction(info.node, _GENERATED_WORDS):
        return True  # a GAN's get_generator_loss(self, fake): computed from the generator's output
    return len(_positional_names(info)) >= 2 and _returns_from_prediction(info.node, _PREDICTION_WORDS | _POLICY_WORDS)


# what a GAN's generator made (``fake``, ``generated``): the prediction of its get_*_loss methods
_GENERATED_WORDS = frozenset({"fake", "fakes", "generated", "gen"})


def _returns_from_prediction(function: cst.FunctionDef, words: frozenset = _PREDICTION_WORDS) -> bool:
    """What the function returns is computed from a parameter named for the prediction (through
    assignments, loop variables over it and ``list.append``), not only from the targets: a loss,
    not a weight or mask maker (``pixel_weights(pred_mask, target_mask)`` that reads only the
    prediction's shape and returns weights of the target)."""
    params = [p.name.value for p in (*function.params.posonly_params, *function.params.params)]
    predictions = {n for n in params if words & set(n.lower().split("_"))}
    depends: dict[str, set[str]] = {}
    returned: set[str] = set()
    for node in own_nodes(function):
        if isinstance(node, (cst.Assign, cst.AugAssign, cst.AnnAssign)) and node.value is not None:
            targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            for target in targets:
                for name in _read_names(target) if isinstance(target, (cst.Tuple, cst.List)) else \
                        ([target.value] if isinstance(target, cst.Name) else []):
                    depends.setdefault(name, set()).update(_read_names(node.value))
        elif isinstance(node, cst.For) and not (isinstance(node.iter, cst.Call) and isinstance(node.iter.func, cst.Name)
                                                and node.iter.func.value in ("range", "len")):
            for name in _read_names(node.target):
                depends.setdefault(name, set()).update(_read_names(node.iter))
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
                and isinstance(node.func.value, cst.Name) and node.func.attr.value in ("append", "extend", "insert"):
            depends.setdefault(node.func.value.value, set()).update(
                name for arg in node.args for name in _read_names(arg.value))
        elif isinstance(node, cst.Return) and node.value is not None:
            returned |= _read_names(node.value)
    seen, stack = set(), list(returned)
    while stack:
        name = stack.pop()
        if name in predictions:
            return True
        if name not in seen:
            seen.add(name)
            stack.extend(depends.get(name, ()))
    return False


def _metrics_by_file_name_only(filename: str | None) -> bool:
    """``metrics.py`` or ``utils/metrics.py`` in a project (no folder says metric or evaluation): a
    user's file that often holds the losses beside the metrics (``dice_coef`` and ``dice_loss``).

        >>> _metrics_by_file_name_only("seg/metrics.py"), _metrics_by_file_name_only("torchmetrics/functional/dice.py")
        (True, False)
    """
    if module_kind(filename) != "metrics":
        return False
    parts = [p.lower() for p in re.split(r"[\\/]+", filename) if p]
    return "metric" in parts[-1] and not any("metric" in f or f in ("evaluation", "eval", "scoring")
                                            for f in parts[:-1])


def module_kind(filename: str | None) -> str | None:
    """``"tests"``, ``"metrics"`` or None, from a module's path (match costs and assigners count
    as metrics: they score predictions against targets, and nothing differentiates them).

        >>> module_kind("pkg/losses_test.py"), module_kind("pkg/metrics/dice.py"), module_kind("losses.py")
        ('tests', 'metrics', None)
        >>> module_kind("pkg/assigners/match_cost.py"), module_kind("pkg/validators/entropy.py")
        ('metrics', 'metrics')
    """
    if not filename:
        return None
    parts = [p.lower() for p in re.split(r"[\\/]+", filename) if p]
    if not parts:
        return None
    name = parts[-1]
    stem = name.rsplit(".", 1)[0]
    folders = parts[:-1]
    if stem.startswith("test_") or stem.endswith(("_test", "_tests")) or stem in ("conftest", "test", "tests"):
        return "tests"  # by file name only: fixtures under a tests/ folder are real loss files
    if "loss" in stem or any("loss" in f for f in folders[-2:]):
        return None
    if "metric" in stem or stem in _SCORING_MODULES \
            or any("metric" in f or f in ("evaluation", "eval", "stats", "statistics", "scoring") or f in _SCORING_MODULES
                   for f in folders):
        return "metrics"  # model selection and calibration score a trained model: nothing differentiates them
    if any(word in part for part in (stem, *folders[-2:]) for word in _MATCHING_WORDS):
        return "metrics"  # match costs and assigners pair predictions with targets, without gradient
    return None


class _LossFinder:
    def __init__(self, index: ModuleIndex, kind: str | None = None) -> None:
        self.index = index
        self.module_kind = kind
        self.metrics_file_only = False  # a user's metrics.py (no metrics package): losses live there too
        self.loss_module = False  # the file's name says it holds losses
        self._referenced: set[str] | None = None  # names the module's functions read or call
        self.losses: list[LossFunction] = []
        self._seen: set[int] = set()
        self._loss_classes: set[str] = set()
        self._metric_names: set[str] = set()
        self._compile_names: set[str] = set()
        self._matchers: list[ClassInfo] | None = None  # matcher and assigner classes, found once

    # ---- public entry -------------------------------------------------------------------
    def collect(self, patterns: tuple[str, ...]) -> None:
        self._scan_compile_calls()
        self._find_loss_classes()
        if self.module_kind == "tests":
            # Test modules define throwaway losses to exercise code, not losses that train a model.
            for info in self.index.functions:
                if patterns and any(fnmatch.fnmatchcase(info.name, p) for p in patterns):
                    self._add_function(info, "config")
            self._add_helpers()
            return
        for info in self.index.functions:
            named_like_a_loss = _named_like_a_loss(info.name) or _gradient_penalty_by_initials(info) \
                or (info.class_info is None and self.loss_module and _LOSS_PREFIXED_CLASS.match(info.name) is not None
                    and not _NETWORK_CLASS.search(info.name))  # def L_color(x) in a losses module
            if info.class_info is not None and info.class_info.name in self._loss_classes:
                if info.name in LOSS_CLASS_METHODS:
                    self._add_function(info, "loss-class")
                    continue
            if info.class_info is not None and info.name in ("forward", "backward") \
                    and _is_autograd_function(info.class_info) \
                    and (self.loss_module or _named_like_a_loss(info.class_info.name)):
                # class SoftDTWBatch(torch.autograd.Function) in a losses module: its forward and
                # backward run in every training step of the loss that applies it
                self._add_function(info, "autograd")
                continue
            if info.class_info is not None and (info.name == "compute_loss" or _computes_for_a_loss_class(info)):
                self._add_function(info, "compute_loss")
                continue
            if self._looks_like_loss_signature(info) and not self._evidence_against(info) \
                    and not _takes_host_values(info) and not _host_library_module(self.index):
                self._add_function(info, "signature")
                continue
            if info.class_info is not None and info.name in LOSS_CLASS_METHODS and \
                    not self._is_metric_class(info.class_info) and _positional_names(info) and \
                    (self.module_kind != "metrics" or self._loss_class_beside_metrics(info.class_info)) and \
                    not (len(_positional_names(info)) <= 1 and _a_training_module(info.class_info, self.index)) and \
                    (_names_a_criterion(info) or _named_like_a_loss(info.class_info.name)
                     or (MARGIN_HEAD.search(info.class_info.name) and len(_positional_names(info)) >= 2
                         and (not _target_is_optional(info) or _margin_under_the_labels(info)))
                     or (info.name == "forward" and len(_positional_names(info)) >= 2
                         and _is_input_target_pair(_positional_names(info))
                         and not _target_is_optional(info) and not _network_forward(info)
                         and not _scores_on_the_host(info) and not _MATCHING_CLASS.search(info.class_info.name))
                     or (_combines_losses(info) and _returns_a_value(info) and not self._evidence_against(info))
                     or (self.loss_module and len(_positional_names(info, required=True)) >= 2
                         and not _runs_held_modules(info) and _returns_computed_values(info)
                         and not self._evidence_against(info))
                     or _returns_own_criterion(info)
                     or _a_perceptual_comparison(info)
                     or self._prefixed_loss_term(info.class_info)):
                # class FocalLoss(nn.Module): def forward(self, input, target); in a losses module,
                # class SI_SNR: def __call__(self, clean, enhanced); an autograd Function's
                # forward(ctx, pred, target) runs untracked, its backward being the gradient
                self._add_function(info, "autograd" if _is_autograd_function(info.class_info) else "loss-class")
                continue
            if named_like_a_loss and _return_kinds(info) == {"function"} \
                    and not info.name.lower().startswith(_NOT_A_LOSS_PREFIXES) \
                    and not _name_tokens(info.name) & _EVALUATION_TOKENS:  # register_loss(name): a decorator
                # (compute_validation_loss(loss_fn, dataset) returns an evaluation callback, not a loss)
                self._add_factory_products(info)  # def make_weighted_loss(w): def _weighted(a, b): ...
                continue
            if named_like_a_loss and _positional_names(info) \
                    and (not info.name.lower().startswith(_NOT_A_LOSS_PREFIXES) or _gets_a_computed_loss(info)) \
                    and not _is_setup_method(info.name) \
                    and (_computes_with_tensors(info.node, self.index.imports) or self._delegates_to_tensor_code(info)
                         or self._differentiated_by_a_tape(info) or self._runs_held_framework_objects(info)) \
                    and not self._evidence_against(info):
                self._add_function(info, "named")  # def nt_xent_loss(z_i, z_j, temperature), gradient_penalty
                continue
            if _loss_word_inside(info.name) and _takes_a_prediction(info, _PREDICTION_WORDS | _POLICY_WORDS) \
                    and not self._called_in_module(info) \
                    and not info.name.lower().startswith(_NOT_A_LOSS_PREFIXES) and not _is_setup_method(info.name) \
                    and _computes_with_tensors(info.node, self.index.imports) \
                    and _returns_from_prediction(info.node, _PREDICTION_WORDS | _POLICY_WORDS) \
                    and not self._evidence_against(info):
                self._add_function(info, "named")  # def content_loss_vgg(vgg_model, enhanced_image, clean_image)
                continue
            if _siamese_distance(info) and _computes_with_tensors(info.node, self.index.imports) \
                    and not _numpy_only(info.node, self.index.imports) \
                    and info.name not in self.index.element_maps():  # not dataset.map(distance)
                self._add_function(info, "named")  # def euclidean_distance(vects): x, y = vects; ...
                continue
            if _says_kl_term(info) and not info.name.lower().startswith(_NOT_A_LOSS_PREFIXES) \
                    and _computes_with_tensors(info.node, self.index.imports) \
                    and not self._evidence_against(info, kl_term=True):
                self._add_function(info, "named")  # def kl_divergence(mu, logvar): a VAE's KL term
                continue
            if self._public_function_of_a_loss_module(info):
                self._add_function(info, "named")  # custom_losses.py: def ms_mse(sharp_pyramid, predicted_pyramid)
                continue
            if patterns and any(fnmatch.fnmatchcase(info.name, p) for p in patterns):
                self._add_function(info, "config")
        self._add_loss_combinations()
        for call in self.index.compile_calls:
            for expression in compile_loss_arguments(call):
                self._add_expression(expression, depth=0)
        self._add_functions_used_as_losses()
        self._add_functions_a_tape_differentiates()
        self._add_train_steps()
        self.losses = _after_their_holders(self.losses, self.index)
        self._add_helpers()

    def _add_loss_combinations(self) -> None:
        """``def random_class_pairs(embeds, labels): loss += same_class_loss(...); return loss``: a
        plain function of the file that adds up what the file's losses (found so far) return, and
        returns that, is a loss too. Not a model's method (its ``loss(self, x)`` runs the network
        and hands the terms on), an evaluation, a logger or a training loop."""
        found = {loss.info.name for loss in self.losses if loss.info is not None and loss.info.class_info is None}
        if not found:
            return
        for info in self.index.functions:
            if id(info.node) in self._seen or info.class_info is not None or not _positional_names(info) \
                    or info.name.lower().startswith(_NOT_A_LOSS_PREFIXES) or _is_setup_method(info.name) \
                    or _name_tokens(info.name) & (_EVALUATION_TOKENS | _INFERENCE_TOKENS):
                continue
            if _returns_own_loss_calls(info, found) and not decorated_no_grad(info.node) \
                    and not _calls_a_parameter(info) and not self._evidence_against(info):
                self._add_function(info, "named")

    def _add_functions_used_as_losses(self) -> None:
        """``loss = ssim(image, output)`` in a training loop: a plain function of the file whose
        result the code stores as its loss is one, whatever its name. Not when a loss of the file
        makes the call: the callee is its helper, read with the caller's context (a sum the caller
        then averages)."""
        for info in self.index.functions:
            callers = self.index.loss_calls.get(info.name)
            if not callers or info.class_info is not None or not _positional_names(info) \
                    or id(info.node) in self._seen:
                continue
            if any(caller is not None and (id(caller.node) in self._seen or _says_loss(caller.name))
                   for caller in callers):
                continue
            if info.name.lower().startswith(_NOT_A_LOSS_PREFIXES) or _looks_like_metric(info.name) \
                    or _name_tokens(info.name) & (_NOT_A_LOSS_TOKENS | _METRIC_TOKENS) \
                    or not _computes_with_tensors(info.node, self.index.imports) \
                    or self._evidence_against(info, used_as_loss=True):
                continue
            self._add_function(info, "named")

    def _add_functions_a_tape_differentiates(self) -> None:
        """``losses = get_batch_losses(model, images, labels, cfg)`` inside ``with tf.GradientTape()``
        and then ``tape.gradient(losses["total_loss"], weights)``: the function whose value (or a
        named entry of the dict it returns) the tape differentiates computes the training loss,
        whatever its name says (``get_`` is a getter's prefix elsewhere). Not a method (read with
        its class) nor an evaluation."""
        for info in self.index.functions:
            if id(info.node) in self._seen or info.class_info is not None or not _positional_names(info) \
                    or _is_setup_method(info.name) or _name_tokens(info.name) & _EVALUATION_TOKENS \
                    or decorated_no_grad(info.node):
                continue
            call = tape_gradient_in(self.index, info)
            if call is not None and differentiates_weights(call) and (_computes_with_tensors(info.node, self.index.imports) or any(
                    isinstance(node, cst.Call) and isinstance(node.func, cst.Name)
                    and any(_computes_with_tensors(f.node, self.index.imports)
                            for f in self.index.functions_named(node.func.value) if f is not info)
                    for node in own_nodes(info.node))):  # (or hands the work to the file's tensor code)
                self._add_function(info, "named")

    def _add_train_steps(self) -> None:
        """``loss = F.mse_loss(model(x), y); loss.backward(); optimizer.step()`` in a loop over the
        data, or a ``GradientTape`` step that applies its gradients: the loss written inline where
        it trains. Read like a loss, over the code that runs every step (``per_step_region``);
        not an evaluation (``validate``, ``test_epoch``) nor a function already read as a loss."""
        for info in self.index.functions:
            tokens = _name_tokens(info.name)
            if id(info.node) in self._seen or (tokens & _EVALUATION_TOKENS and not tokens & {"train", "fit"}):
                continue  # validate(), test_epoch(); not train_and_evaluate()
            region = per_step_region(info.node)
            if region is not None:
                self._add_function(info, "train-step")
                loss = self.losses[-1]
                loss.region = region
                loss.param_taints = {}  # a model, a loader, an optimizer: the data comes from the loop
        module_loop = _module_level_steps(self.index.module)
        if module_loop is not None:  # a script's or notebook's own training loop
            function, region = module_loop
            self.losses.append(LossFunction("<module>", function, "train-step", region=region))

    def _differentiated_by_a_tape(self, info: FunctionInfo) -> bool:
        """``loss = self._loss(data)`` then ``tape.gradient(loss, weights)`` in the file (a method by
        its own class's code): what the tape differentiates is the training loss, even when it
        computes only with operators (``(y - embed_dist) ** 2``)."""
        return tape_gradient_in(self.index, info) is not None

    def _loss_class_beside_metrics(self, class_info) -> bool:
        """``class ATACloss_MNLLL(nn.Module)`` in a project's ``eval_metrics.py`` (no folder says
        metric or evaluation): a class its name makes a loss, kept beside the metrics as users do
        (not a ``LossTracker`` or ``LossMeter`` that averages losses for a log)."""
        return self.metrics_file_only and bool(_CRITERION_WORD.search(class_info.name)) \
            and not set(name_words(class_info.name)) & (_LOSS_BOOKKEEPING_WORDS | _EVALUATION_TOKENS | {"epoch"})

    def _delegates_to_tensor_code(self, info: FunctionInfo) -> bool:
        """A loss-named method of a class named like a loss that hands its parameters to one of
        the class's own methods computing with tensors (``return 1 - self.get_coefficient(preds,
        masks)``): the loss, its helper doing the work. A model's ``loss()`` that runs the network
        (``self.extract_feat(inputs)``) is in a class named for the model, not a loss."""
        if info.class_info is None:
            return self._hands_params_to_a_tensor_function(info)
        if not (_named_like_a_loss(info.class_info.name) or _names_a_negative_likelihood(info.name)):
            return False  # (a CRF tagger's neg_log_likelihood(sentence, tags) is its training loss)
        params = set(_positional_names(info))
        for node in own_nodes(info.node):
            if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
                    and isinstance(node.func.value, cst.Name) and node.func.value.value == "self" \
                    and any(isinstance(arg.value, cst.Name) and arg.value.value in params for arg in node.args):
                method = info.class_info.methods.get(node.func.attr.value)
                if method is not None and method is not info and _computes_with_tensors(method.node, self.index.imports):
                    return True
        return False

    def _hands_params_to_a_tensor_function(self, info: FunctionInfo) -> bool:
        """A module-level function named like a loss that hands its parameters to another function of
        the file computing with tensors (``total + vm_term(loc_preds[i], conc_preds[i], targets[i])``):
        the loss, with its per-term helper."""
        by_name = {p.name.value: p for p in (*info.node.params.posonly_params, *info.node.params.params)}
        # the tensors it is given (not loss_schedule(epoch, warmup_epochs): Python numbers)
        params = {name for name in _positional_names(info)
                  if name in by_name and not _host_param(name, by_name[name])
                  and _normalized(name) not in _HOST_OBJECT_NAMES and not _COUNTER_WORD.search(name)}
        helpers = {f.name: f for f in self.index.functions if f.class_info is None and f is not info
                   and not _name_tokens(f.name) & _EVALUATION_TOKENS}  # not eval_loss_loop(loss_fn, model, data)
        for node in own_nodes(info.node):
            if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in helpers \
                    and any(_rows_of(arg.value) in params for arg in node.args):
                helper = helpers[node.func.value]
                if _computes_with_tensors(helper.node, self.index.imports) \
                        and not _numpy_only(helper.node, self.index.imports) and "tensor" in _return_kinds(helper):
                    return True  # (not a numpy metric, not a mean read with .item() for a log)
        return False

    def _runs_held_framework_objects(self, info: FunctionInfo) -> bool:
        """A loss-named method of a class named for losses (``lossModule``, ``GANLosses``) that runs
        what its ``__init__`` built with a tensor library (``self.mse =
        tf.keras.losses.MeanSquaredError()``): tensor code though it calls no op itself
        (``return self.mse(self.vgg(hr), self.vgg(sr))``)."""
        if info.class_info is None or not _name_tokens(info.class_info.name) & {"loss", "losses", "criterion", "objective"}:
            return False  # a model's own loss method runs the model (its forward is read as a helper)
        built = self.index.init_calls(info.class_info)
        for node in own_nodes(info.node):
            if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
                    and isinstance(node.func.value, cst.Name) and node.func.value.value == "self" \
                    and node.func.attr.value in built:
                for call in built[node.func.attr.value]:
                    parts = dotted_parts(call.func)
                    qualified = self.index.imports.qualify(parts) if parts else None
                    if qualified and qualified.split(".")[0] in ("tensorflow", "keras", "torch", "jax", "flax"):
                        return True
        return False

    def _public_function_of_a_loss_module(self, info: FunctionInfo) -> bool:
        """A module-level public function of a losses module that takes a prediction and computes
        with tensors, and that nothing in the module calls: a loss the training code imports,
        whatever its name (``ms_mse``, ``ssim``). A function the module's own code calls is a
        helper, read with its caller's context; a conversion (``pred_to_labels``) is no loss."""
        if not self.loss_module or info.class_info is not None or info.name.startswith("_") \
                or not (_takes_a_prediction(info) or _compares_two_domains(info) or _takes_input_and_target(info)) \
                or info.name.lower().startswith(_NOT_A_LOSS_PREFIXES) \
                or "to" in _name_tokens(info.name) \
                or ((_looks_like_metric(info.name) or _name_tokens(info.name) & _METRIC_TOKENS)
                    and not _returns_a_complement(info.node)) \
                or _name_tokens(info.name) & (_NOT_A_LOSS_TOKENS | _EVALUATION_TOKENS):
            return False  # ssim_val(output, mask): a validation figure; IoU(y, p) returning -iou is a loss
        words = _PREDICTION_WORDS if _takes_a_prediction(info) else \
            _INPUT_WORDS if _takes_input_and_target(info) else _DOMAIN_WORDS
        return not self._called_in_module(info) and _computes_with_tensors(info.node, self.index.imports) \
            and _returns_from_prediction(info.node, words) and not self._evidence_against(info)

    def _called_in_module(self, info: FunctionInfo) -> bool:
        """Whether the module's own functions name ``info`` (a helper, read with its caller's context),
        or it is private."""
        if self._referenced is None:  # names and attribute names read anywhere in the module's functions
            self._referenced = {n.value if isinstance(n, cst.Name) else n.attr.value
                                for f in self.index.functions for n in own_nodes(f.node)
                                if isinstance(n, (cst.Name, cst.Attribute))}
        return info.name.startswith("_") or info.name in self._referenced

    def _evidence_against(self, info: FunctionInfo, kl_term: bool = False, used_as_loss: bool = False) -> bool:
        """Why a function that looks like a loss by its signature (or name) is not one.

        A signature is weak evidence: metrics, threshold searches, validators and loss factories
        take ``(preds, target)`` too. Usage (compiled as a loss) always wins.
        """
        returns = _return_kinds(info)
        if info.name in self._compile_names or ("dict" in returns and self._differentiated_by_a_tape(info)):
            return False  # (a dict of losses whose entry a GradientTape differentiates: its training loss)
        if info.name in self.index.registered_metrics and info.name not in self.index.loss_calls:
            return True  # metrics_["logloss"] = self._log_loss: kept as a metric by the code itself
        if info.class_info is not None and info.class_info.name not in self._loss_classes and (
                _MATCHING_CLASS.search(info.class_info.name)
                or any(_MATCHING_BASE.search(".".join(dotted_parts(b) or ())) for b in info.class_info.bases)):
            return True  # HungarianMatcher.forward, DiceCost._binary_mask_dice_loss
        if _returns_numpy_counts(info.node, self.index.imports):
            return True  # return true_accept, false_accept of np.sum(...): evaluation counts, never one loss tensor
        if _numpy_only(info.node, self.index.imports) and _positional_names(info)[:2] != ["y_true", "y_pred"]:
            return True  # numpy on the host: an evaluation, whatever its name says (Keras's own
            # parameter names keep a function a loss: numpy inside one is the bug to report)
        if self.module_kind == "metrics" and not (info.class_info is not None
                                                  and info.class_info.name in self._loss_classes) \
                and not (info.class_info is not None and info.name == "loss") \
                and not (self.metrics_file_only and _named_like_a_loss(info.name)
                         and info.name.lower().strip("_") not in _METRIC_LOSS_NAMES):  # Metric.loss(y_pred, target)
            return True  # a metrics module's hamming_loss_fn is a metric, whatever its name says
        tokens = _name_tokens(info.name)
        if returns and returns <= {"dict", "python", "function", "object", "none"} and returns != {"none"}:
            return True  # returns a dict, a Python value, or a loss object/function (a factory)
        if not returns - {"none"} and not _calls_backward(info.node) and not info.name.startswith("__") \
                and (_annotated_none(info.node) or not _keeps_or_yields(info.node)):
            return True  # hands no value back: a logger, an in-place accumulator, a validator
        if "host" in returns and returns <= {"host", "python", "none"} \
                and _positional_names(info)[:2] != ["y_true", "y_pred"] and not _calls_backward(info.node):
            # (``loss.backward(); return loss.item()`` is a train step's per-step sync, reported)
            return True  # ``return estimate.item()``: an evaluation API (a Keras loss doing it is the bug)
        if _takes_optimizer_step(info.node):
            return True  # computes a loss and applies its gradients: a train step
        if _network_forward(info) and info.class_info.name not in self._loss_classes:
            return True  # MultiPeriodDiscriminator.forward(self, y, y_hat): the network itself
        if info.class_info is None and self._called_only_by_matchers(info):
            return True  # pair_wise_dice_loss(inputs, labels): a matching cost of a Hungarian matcher
        if tokens & _NEVER_A_LOSS_TOKENS:
            return True  # _multilabel_ranking_loss_update, check_loss_inputs
        if tokens & {"mask", "masks"} and not tokens & _LOSS_TOKENS and not used_as_loss \
                and _returns_a_mask(info.node):
            return True  # calculate_corridor_mask(preds, labels): the mask a loss weights by
        if not used_as_loss and returns_signal_to_error_score(info.node):
            return True  # 10 * log10(max_val ** 2 / mse): falls as the error grows, a score (PSNR, SNR)
        if tokens & _LOSS_TOKENS or _named_like_a_loss(info.name) or kl_term or used_as_loss:
            return False
        if _returns_threshold_rates(info.node):
            return True  # return abs_rel, rmse, a1, a2, a3: an evaluation table with threshold rates
        if name_words(info.name)[-1:] in (["inference"], ["infer"]):
            return True  # Gaussian2DLikelihoodInference(outputs, targets): test time's scoring, no loss
        if info.parent is not None and info.class_info is None and _names_a_metric_factory(info.parent.name):
            return True  # def metrics_precision(): def nprecision(y_true, y_pred): a metric its factory names
        if self._beside_its_loss(info):
            return True  # sharpe_ratio beside sharpe_ratio_loss: the score the loss is trained on, reported
        if tokens & _NOT_A_LOSS_TOKENS or self.module_kind == "metrics":
            return True
        if "matching" in tokens and not tokens & {"feature", "features", "fm"}:
            return True  # compute_img_detection_matching(preds, targets): pairs them, for a metric (a GAN's feature_matching is a loss)
        if info.class_info is not None and (self._is_metric_class(info.class_info) or (
                _looks_like_metric(info.class_info.name) and info.class_info.name not in self._loss_classes)):
            return True  # Accuracy(Loss).__call__(y_true, y_pred): a metric on the loss base's call API
        return _numpy_only(info.node, self.index.imports)

    def _beside_its_loss(self, info: FunctionInfo) -> bool:
        """The file also defines ``<name>_loss`` (``loss_<name>``, ``<name>Loss``) at the same level,
        and nothing in it names ``info`` but its own ``def``: ``sharpe_ratio`` beside
        ``sharpe_ratio_loss`` is the score that loss optimises, kept for reporting (a metric), not a
        second loss. Called by the loss (``1 - dice_coef(...)``), it is the loss's helper instead."""
        if self.index.references(info.name) > 1 or not _steps_on_the_prediction(info.node):
            return False
        own = info.name.lower().strip("_")
        twins = {f"{own}_loss", f"loss_{own}", f"{own}loss"}
        return any(other.name.lower().strip("_") in twins and other.class_info is info.class_info
                   for other in self.index.functions)

    def _called_only_by_matchers(self, info: FunctionInfo) -> bool:
        """Every function of the file that names ``info`` is a method of a matcher or assigner
        class (``HungarianMatcher.forward``): a cost computed under no_grad to pair predictions
        with targets, never differentiated."""
        if self._matchers is None:
            self._matchers = [c for c in self.index.classes.values() if _MATCHING_CLASS.search(c.name)
                              or any(_MATCHING_BASE.search(".".join(dotted_parts(b) or ())) for b in c.bases)]
        matchers = self._matchers
        if not matchers:
            return False
        callers = [f for f in self.index.functions if f is not info and any(
            isinstance(n, cst.Name) and n.value == info.name for n in own_nodes(f.node))]
        return bool(callers) and all(f.class_info in matchers for f in callers) \
            and info.name not in self._compile_names

    # ---- signatures ---------------------------------------------------------------------
    def _looks_like_loss_signature(self, info: FunctionInfo) -> bool:
        if info.class_info is not None:
            # Methods count only as the call of a callable loss object or by name (never a
            # metric's update_state, a layer's call on (inputs, targets), ...).
            if self._is_metric_class(info.class_info):
                return False
            if info.name not in LOSS_CLASS_METHODS and not _says_loss(info.name) \
                    and not (_keras_loss_method(info) and not _names_a_loss_method(info.class_info)):
                return False
        names = [_normalized(n) for n in _positional_names(info)]
        if len(names) < 2:
            return False
        first, second = names[0], names[1]
        matched = (first in _TARGET_NAMES and second in _PRED_NAMES) or (
            first in _PRED_NAMES and second in _TARGET_NAMES
        )
        if not matched:
            return False
        # A metric passed as metrics=[...] is not a loss unless it is also compiled as one.
        if info.name in self._metric_names and info.name not in self._compile_names:
            return "loss" in info.name.lower()
        if _looks_like_metric(info.name):  # (an IoU(y_true, y_pred) that returns -iou is the loss)
            return info.name in self._compile_names or _returns_a_complement(info.node)
        return True

    # ---- loss classes -------------------------------------------------------------------
    def _find_loss_classes(self) -> None:
        changed = True
        while changed:
            changed = False
            for name, class_info in self.index.classes.items():
                if _looks_like_metric(name) and name not in self._compile_names:
                    continue  # class Accuracy(BasePointLoss): a metric built on the loss base class
                if name not in self._loss_classes and self._derives_from_loss(class_info):
                    self._loss_classes.add(name)
                    changed = True

    def _is_metric_class(self, class_info: ClassInfo) -> bool:
        """A class deriving from a metric base, or named for evaluation without naming a loss
        (``Eval_MonoDepth``, ``ValidationScores``): what it computes is scored, not trained on."""
        words = set(name_words(class_info.name))
        if words & _EVALUATION_TOKENS and not words & _LOSS_TOKENS and class_info.name not in self._loss_classes:
            return True
        for base in class_info.bases:
            parts = dotted_parts(base)
            if parts and ("Metric" in parts[-1] or (self.index.imports.qualify(parts) or "").startswith("keras.metrics.")):
                return True
        return False

    def _derives_from_loss(self, class_info: ClassInfo) -> bool:
        for base in class_info.bases:
            parts = dotted_parts(base)
            if not parts:
                continue
            if parts[-1] in self._loss_classes and len(parts) == 1:
                return True
            qualified = self.index.imports.qualify(parts) or ".".join(parts)
            last = qualified.rsplit(".", 1)[-1]
            if last in ("Loss", "LossFunctionWrapper", "_Loss", "_WeightedLoss"):
                return True
            if qualified.startswith("keras.losses.") and last[:1].isupper():
                return True
        return False

    # ---- compile(loss=...) --------------------------------------------------------------
    def _scan_compile_calls(self) -> None:
        for call in self.index.compile_calls:
            for expression in compile_loss_arguments(call):
                self._compile_names.update(_names_in(expression))
            for arg in call.args:
                if arg.keyword is not None and arg.keyword.value in ("metrics", "weighted_metrics"):
                    self._metric_names.update(_names_in(arg.value))

    def _add_expression(self, expression: cst.BaseExpression, depth: int) -> None:
        if depth > 4:
            return
        if isinstance(expression, cst.Lambda):
            self._add_lambda(expression, "compile")
        elif isinstance(expression, cst.Name):
            name = expression.value
            functions = self.index.functions_named(name) or [
                f for f in self.index.functions if f.name == name and f.class_info is None
            ]
            for info in functions:
                self._add_function(info, "compile")
            if not functions and name in self.index.assignments:
                self._add_expression(self.index.assignments[name], depth + 1)
        elif isinstance(expression, cst.Call):
            self._add_call_result(expression, depth)
        elif isinstance(expression, (cst.List, cst.Tuple, cst.Set)):
            for element in expression.elements:
                self._add_expression(element.value, depth + 1)
        elif isinstance(expression, cst.Dict):
            for element in expression.elements:
                if isinstance(element, cst.DictElement):
                    self._add_expression(element.value, depth + 1)

    def _add_call_result(self, call: cst.Call, depth: int) -> None:
        parts = dotted_parts(call.func)
        if not parts:
            return
        if parts[-1] == "partial" and call.args:  # functools.partial(loss, ...)
            self._add_expression(call.args[0].value, depth + 1)
            return
        if len(parts) != 1:
            return
        name = parts[0]
        class_info = self.index.classes.get(name)
        if class_info is not None:
            for method in LOSS_CLASS_METHODS:
                if method in class_info.methods:
                    self._add_function(class_info.methods[method], "compile")
            return
        for factory in self.index.functions_named(name):
            self._add_factory_products(factory)

    def _add_factory_products(self, factory: FunctionInfo) -> None:
        returned = _returned_names_and_lambdas(factory.node)
        products = [f for f in factory.nested if f.name in returned["names"]] or factory.nested
        for info in products:
            self._add_function(info, "factory")
        for lam in returned["lambdas"]:
            self._add_lambda(lam, "factory")

    # ---- helpers, transitively ----------------------------------------------------------
    def _add_helpers(self) -> None:
        position = 0
        while position < len(self.losses):
            loss = self.losses[position]
            position += 1
            if loss.kind == "train-step":
                continue  # what a training loop calls runs beside its loss (evaluation, logging, saving)
            for info in self._called_local_functions(loss):
                if not _bookkeeping(info) \
                        and not prepares_targets(info.name) and not _returns_host_values(info.node) \
                        and not self._model_code(info):
                    self._add_function(info, "helper", caller=loss)

    def _compiled_kernel(self, info: FunctionInfo) -> bool:
        """``@cuda.jit``, ``@numba.njit``: a kernel compiled by numba, device (or native) code whose
        Python ``if`` and loops run there, not Python work in the training step."""
        for decorator in info.node.decorators:
            expression = decorator.decorator
            target = expression.func if isinstance(expression, cst.Call) else expression
            parts = dotted_parts(target)
            qualified = self.index.imports.qualify(parts) if parts else None
            if qualified is not None and qualified.split(".")[0] == "numba":
                return True
        return False

    @staticmethod
    def _model_code(info: FunctionInfo) -> bool:
        """A function a loss calls that is named for the model's inference (``predict_by_feat``,
        ``_bbox_decode``, ``postprocess``, ``inference``; ``predictive_entropy`` is not): it turns
        outputs into predictions, and what it does runs with or without the loss. A name that says
        loss keeps it a helper.

            >>> import libcst as cst
            >>> src = ("def loss(pred, target):\\n    return l1(decode(pred), target)\\n"
            ...        "def decode(x):\\n    return x\\ndef l1(a, b):\\n    return abs(a - b).mean()\\n")
            >>> [l.name for l in find_losses(ModuleIndex.build(cst.parse_module(src)))]
            ['loss', 'l1']
        """
        if _says_loss(info.name):
            return False
        return bool(_name_tokens(info.name) & _INFERENCE_TOKENS) or name_words(info.name)[:1] == ["predict"] \
            or info.name.lstrip("_").lower().startswith(("simple_test", "aug_test"))

    def _called_local_functions(self, loss: LossFunction) -> list[FunctionInfo]:
        found: list[FunctionInfo] = []
        own_class = loss.info.class_info if loss.info else None
        scope_nested = loss.info.nested if loss.info else []
        called: set[str] | None = None  # self attributes the loss calls, read once if needed
        # Names the loss binds itself (``smape = abs(y_pred - y_true) / summ`` in ``smape_loss``)
        # shadow the file's functions of that name.
        shadowing: set[str] = set()
        if isinstance(loss.node, cst.FunctionDef):
            params = loss.node.params
            shadowing = set(_assigned_values(loss.node)) | {
                p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}
        for node in _walk_names_and_self_attributes(loss.node):
            if isinstance(node, cst.Name):
                if node.value in shadowing and not any(f.name == node.value for f in scope_nested):
                    found.extend(self.index.given_by_default(loss.node, node.value))  # kernel=gaussian_kernel
                    continue
                candidates = [f for f in scope_nested if f.name == node.value] or self.index.functions_named(node.value)
                found.extend(candidates)
            elif node.value.value in ("self", "cls"):  # self.method, or an alias of methods
                methods = self.index.self_call_targets(own_class, node.attr.value, loss.info.name.rsplit(".", 1)[-1]) \
                    if own_class is not None else []  # a subclass's override runs there too (template losses)
                methods = [m for m in methods if m.class_info in (None, own_class) or not _looks_like_metric(m.class_info.name)]
                found.extend(m for m in methods if not _is_setup_method(m.name))
                if not methods and own_class is not None:
                    if called is None:
                        called = _called_self_attributes(loss.node)
                    if node.attr.value in called:
                        found.extend(self._held_module_forward(own_class, node.attr.value))
            else:  # ClassName.method
                named = self.index.classes.get(node.value.value)
                method = named.methods.get(node.attr.value) if named is not None else None
                if method is not None and not _is_setup_method(method.name):
                    found.append(method)
        return found

    def _prefixed_loss_term(self, owner) -> bool:
        """A module class named with the ``L_`` prefix of loss terms (Zero-DCE's ``L_color``,
        ``L_spa``, ``L_TV``; image fusion's ``L_Grad``, ``L_Intensity``), in a file whose name says
        losses or held by a loss class of the file (``self.L_Grad = L_Grad()`` in
        ``SwinFusionLoss``). Layers named so (``L_Block``, ``L_Conv2d(nn.Conv2d)``) are not."""
        name = owner.name
        if not _LOSS_PREFIXED_CLASS.match(name) or _NETWORK_CLASS.search(name) \
                or any(_a_layer_word(word) for word in _name_tokens(name[2:])):
            return False  # whole words: L_Normal, L_Kinetic are loss terms; L_Norm, L_ConvBlock are not
        if not all(_MODULE_BASE.search(terminal_name(base) or "") for base in owner.bases):
            return False  # class L_CONV2D(nn.Conv2d): a layer
        if self.loss_module:
            return True
        return any(held == name for other in self.index.classes.values() if _HOLDING_LOSS_CLASS.search(other.name)
                   for _attr, held, _call in other._init_constructions())

    def _fixed_filter_module(self, held) -> bool:
        """A module whose own ``__init__`` builds no learnable layer, learnable parameter, loaded or
        pretrained model (a Sobel ``GradientNet``: ``torch.tensor(kernel).view(...)``,
        ``nn.Parameter(k, requires_grad=False)``, a buffer, ``nn.ReflectionPad2d(1)``, a kernel from
        any function)."""
        init = held.methods.get("__init__")
        if init is None:
            return False  # inherits its construction: a network class, as far as we can see
        for node in own_nodes(init.node):
            if not isinstance(node, cst.Call):
                continue
            name = terminal_name(node.func) or ""
            if name == "Parameter":
                frozen = [arg.value for arg in node.args[1:2] if arg.keyword is None] + [
                    arg.value for arg in node.args if arg.keyword is not None and arg.keyword.value == "requires_grad"]
                if not (frozen and isinstance(frozen[0], cst.Name) and frozen[0].value == "False"):
                    return False  # a learnable parameter
            elif _LEARNABLE_CALL.search(name) or any(
                    arg.keyword is not None and arg.keyword.value in ("pretrained", "weights") for arg in node.args):
                return False
        return True

    def _held_module_forward(self, owner, attribute: str) -> list[FunctionInfo]:
        """``self.grad_layer`` where ``__init__`` set ``self.grad_layer = SobelLayer(...)``, a module
        class of this file: its ``forward`` (``call``) runs inside the loss every step."""
        found = []
        if not _HOLDING_LOSS_CLASS.search(owner.name) or _WRAPPER_CLASS.search(owner.name):
            return found  # a model's or head's sub-modules are its forward pass, not its loss (nor
            # those of ModelWithLoss, a wrapper around the trained model)
        for call in self.index.init_calls(owner).get(attribute, ()):
            held = self.index.classes.get(terminal_name(call.func) or "")
            if held is None or held is owner or held.name in self._loss_classes \
                    or _MATCHING_CLASS.search(held.name) or _MATCHING_BASE.search(held.name) \
                    or _NOT_LOSS_WORK_CLASS.search(held.name) or _NETWORK_CLASS.search(held.name) \
                    or _HELD_NETWORK.search(held.name) or (_HELD_NET_NAME.search(held.name)
                                                           and not self._fixed_filter_module(held)):
                continue  # a loss class of this file is linted itself; a matcher, assigner or
                # sampler runs under no_grad to pair predictions with targets; an augmentation's
                # noise is the method (a consistency loss); a discriminator or VGG it holds is
                # another network, reported where the loss calls it
            for name in ("forward", "call", "__call__"):
                method = held.methods.get(name)
                if method is not None:
                    if not decorated_no_grad(method.node):
                        found.append(method)
                    break
        return found

    def _model_method(self, info: FunctionInfo, kind: str) -> bool:
        """A loss-named method of a model class (``Model.calculate_loss(self, interaction)``): it
        takes the batch as data and gets its predictions from the network (``self.forward``)."""
        owner = info.class_info
        return kind == "named" and owner is not None and owner.name not in self._loss_classes \
            and not _CRITERION_CLASS.search(owner.name) and any(name in owner.methods for name in ("forward", "call")) \
            and len(_positional_names(info)) == 1  # the batch alone; (cls_scores, bbox_preds, ...) are predictions

    # ---- bookkeeping --------------------------------------------------------------------
    def _add_function(self, info: FunctionInfo, kind: str, caller: LossFunction | None = None) -> None:
        if id(info.node) in self._seen or self._compiled_kernel(info):
            return
        self._seen.add(id(info.node))
        loss = LossFunction(info.display_name, info.node, kind, info, caller=caller)
        loss.param_taints = param_taints(info.node.params, kind, skip_self=info.class_info is not None,
                                          batch_data=self._model_method(info, kind))
        if "args" in loss.param_taints and not loss.param_taints["args"] and _indexes_by_position(info.node, "args"):
            # ``def yolo_loss(args, anchors)`` reading ``args[:n]``: a packed list of tensors (the
            # outputs, then the targets), not argparse's namespace
            loss.param_taints["args"] = frozenset({PRED})
            for other in loss.param_taints:  # the rest configure it: anchors, num_classes, thresholds
                if other != "args" and _normalized(other) not in _PRED_NAMES | _TARGET_NAMES:
                    loss.param_taints[other] = frozenset()
        loss.host_params = documented_host_params(info.node)
        loss.tensor_list_params = documented_tensor_lists(info.node)
        loss.tensor_params = documented_batch_tensors(info.node) - loss.tensor_list_params
        loss.normalized_params = documented_normalized(info.node)
        loss.probability_params = documented_probabilities(info.node)
        loss.later_batch_params = (documented_later_batch_axis(info.node) | _feature_matrices(info.node)
                                   | _one_sentence_params(info.node)) - loss.tensor_params
        for name in loss.host_params | _range_bounds(info.node):
            if name in loss.param_taints:
                loss.param_taints[name] = frozenset()
        self.losses.append(loss)

    def _add_lambda(self, node: cst.Lambda, kind: str) -> None:
        if id(node) in self._seen:
            return
        self._seen.add(id(node))
        loss = LossFunction("<lambda>", node, kind)
        loss.param_taints = param_taints(node.params, kind, skip_self=False)
        self.losses.append(loss)


# ---- parameters -------------------------------------------------------------------------

_STATE_METHODS = frozenset({"update_state", "result", "reset_state", "reset_states", "merge_state"})


def _calls_a_parameter(info: FunctionInfo) -> bool:
    """``def shared_step(model, batch): out = model(x)``: the function runs a network (or a
    callback) it is given: a step of training or evaluation, not a loss."""
    params = set(_positional_names(info))
    for node in own_nodes(info.node):
        if not isinstance(node, cst.Call):
            continue
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in ("forward", "apply", "predict", "__call__"):
            func = func.value  # model.forward(x), model.apply(params, x)
        if isinstance(func, cst.Name) and func.value in params:
            return True
    return False


def _returns_own_loss_calls(info: FunctionInfo, losses: set[str]) -> bool:
    """Every ``return`` hands back what calls to the file's losses (``losses``: the names of its
    plain functions read as losses) give: directly (``return pair_loss(a, b) + reg_loss(w)``) or
    through a name they are stored or added up in (``loss += same_class_loss(...)``; ``return
    loss / n``)."""
    def calls_a_loss(expression) -> bool:
        return any(isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in losses
                   and node.func.value != info.name for node in (expression, *own_nodes(expression)))

    stored: dict[str, bool] = {}
    for node in own_nodes(info.node):
        if isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
            name = node.targets[0].target.value
            stored[name] = stored.get(name, False) or calls_a_loss(node.value)
        elif isinstance(node, cst.AugAssign) and isinstance(node.target, cst.Name):
            stored[node.target.value] = stored.get(node.target.value, False) or calls_a_loss(node.value)
    returns = [node for node in own_nodes(info.node) if isinstance(node, cst.Return)]
    if not returns:
        return False
    for node in returns:
        value = node.value
        if value is None or isinstance(value, (cst.Tuple, cst.List, cst.Dict)):
            return False  # (``return loss, acc``: a step's figures)
        if not (calls_a_loss(value) or any(isinstance(n, cst.Name) and stored.get(n.value)
                                           for n in (value, *own_nodes(value)))):
            return False  # (``return loss / len(embeds)`` hands back the stored sum, normalised)
    return True


def _returns_a_value(info: FunctionInfo) -> bool:
    """Some ``return`` hands back a value (an early stopping rule's ``__call__(self, train_loss,
    val_loss)`` only updates its counter)."""
    return any(isinstance(node, cst.Return) and node.value is not None for node in own_nodes(info.node))


def _returns_computed_values(info: FunctionInfo) -> bool:
    """Every ``return`` hands back values the method computed (``loss_n, loss_a``), none of its
    own inputs as given (``Mixup.__call__(x, y)`` returns the mixed inputs and ``y`` itself) and
    not nothing."""
    params = {p.name.value for p in info.node.params.params}
    returns = [node for node in own_nodes(info.node) if isinstance(node, cst.Return)]
    if not returns or any(r.value is None for r in returns):
        return False
    for r in returns:
        parts = [e.value for e in r.value.elements] if isinstance(r.value, cst.Tuple) else [r.value]
        if any(isinstance(part, cst.Name) and part.value in params for part in parts):
            return False
    return True


def _runs_held_modules(info: FunctionInfo) -> bool:
    """The method calls an attribute of ``self`` that is not one of the class's methods
    (``self.head(x)``, ``self.encoder(g, x)``): a network block running its layers or sub-networks."""
    owner = info.class_info
    for node in own_nodes(info.node):
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
                and isinstance(node.func.value, cst.Name) and node.func.value.value == "self" \
                and not owner.methods_behind(node.func.attr.value) and not _HELD_CRITERION.search(node.func.attr.value):
            return True
    return False


# an attribute that holds a criterion, not a network block: ``self.base_criterion(pred, y)``, ``self.loss_fn``
_HELD_CRITERION = compile_lazily(r"criterion|(^|_)crit($|_)|loss", re.IGNORECASE)


def _combines_losses(info: FunctionInfo) -> bool:
    """``forward(self, loss0, loss1)``, ``forward(self, losses)``: a module that weights the task
    losses into the one that is trained (uncertainty weighting): it runs in every step."""
    names = [name.lower() for name in _positional_names(info, required=True)]
    if names == ["losses"]:
        return True
    return len(names) >= 2 and all("loss" in name for name in names)


def _is_autograd_function(class_info: ClassInfo) -> bool:
    """``class SoftDTW(torch.autograd.Function)`` (or ``Function`` imported from it)."""
    return any(_base_name(base) == "Function" and (dotted_parts(base) or ("",))[0] in ("Function", "torch", "autograd")
               for base in class_info.bases)


def _keras_loss_method(info: FunctionInfo) -> bool:
    """``def l2_tv(self, y_true, y_pred)`` of a plain class that holds a loss's hyperparameters:
    exactly Keras's loss signature, ``y_true, y_pred`` and nothing else without a default (not a
    metric's state method)."""
    if not isinstance(info.node, cst.FunctionDef) or info.name in _STATE_METHODS or info.class_info is None \
            or any(_base_name(base) != "object" for base in info.class_info.bases):
        return False  # a Trainer's, a Callback's or a Module's method of (y_true, y_pred): logging, plots
    signature = info.node.params
    params = [p for p in (*signature.posonly_params, *signature.params, *signature.kwonly_params)
              if p.name.value not in ("self", "cls")]
    required = [p.name.value for p in params if p.default is None]
    return required == ["y_true", "y_pred"] and _returns_from_prediction(info.node)


def _base_name(base) -> str:
    parts = dotted_parts(base.value if isinstance(base, cst.Arg) else base)
    return parts[-1] if parts else ""


def _names_a_loss_method(class_info: ClassInfo) -> bool:
    """The class already has a method that says it is the loss (``total_variation_loss``, ``call``):
    another method with Keras's signature is then its wrapper or a variant, not the way in."""
    return any(name in LOSS_CLASS_METHODS or _says_loss(name) for name in class_info.methods)


def _positional_names(info: FunctionInfo, required: bool = False) -> list[str]:
    """The positional parameters' names (``self`` left out); only those without a default (what
    every call passes) when ``required``."""
    params = [p for p in (*info.node.params.posonly_params, *info.node.params.params)
              if not required or p.default is None]
    names = [p.name.value for p in params]
    if info.class_info is not None and names and names[0] in ("self", "cls"):
        names = names[1:]
    return names


# words of a training loop's counters (``epoch``, ``warmup_epochs``, ``global_step``)
_COUNTER_WORD = compile_lazily(r"epoch|step|iter", re.IGNORECASE)


def _rows_of(node) -> str | None:
    """The name ``loc_preds``, ``loc_preds[i]`` or ``loc_preds[i][mask]`` reads (not ``info.model``)."""
    while isinstance(node, cst.Subscript):
        node = node.value
    return node.value if isinstance(node, cst.Name) else None


def _range_bounds(node: cst.FunctionDef) -> set[str]:
    """Parameters the function's own body counts with (``for i in range(M)``, ``range(1, n)``): Python
    integers, whatever their place in the signature (``meta_loss(hypos, M, labels)``).

        >>> sorted(_range_bounds(cst.parse_statement("def f(h, M, y):\\n    for i in range(M):\\n        pass\\n")))
        ['M']
    """
    names = {p.name.value for p in (*node.params.posonly_params, *node.params.params, *node.params.kwonly_params)}
    return {arg.value.value for call in own_nodes(node) if isinstance(call, cst.Call)
            and isinstance(call.func, cst.Name) and call.func.value == "range"
            for arg in call.args if isinstance(arg.value, cst.Name) and arg.value.value in names}


def param_taints(params: cst.Parameters, kind: str, skip_self: bool,
                 batch_data: bool = False) -> dict[str, frozenset[str]]:
    """Which parameters hold tensors, and whether they are targets or predictions (``batch_data``:
    a model's loss method, whose parameters are the batch, data without gradient)."""
    positional = [*params.posonly_params, *params.params]
    if skip_self and positional and positional[0].name.value in ("self", "cls"):
        positional = positional[1:]
    if kind == "autograd" and positional and positional[0].name.value == "ctx":
        positional = positional[1:]  # an autograd Function's forward(ctx, ...) / backward(ctx, ...)
    everything = positional + list(params.kwonly_params)
    # ``forward(self, model, sample)``: a loss that runs the network itself gets its predictions
    # from it; its other arguments are the batch, data without gradient
    batch_data = batch_data or (kind != "helper" and any(
        _normalized(p.name.value) in _NETWORK_PARAM_NAMES for p in everything))
    # ``forward(self, predictions, batch)``: beside named predictions, ``batch`` holds the data
    beside_predictions = kind != "helper" and any(_normalized(p.name.value) in _PRED_NAMES for p in everything)
    taints: dict[str, frozenset[str]] = {}
    latent = _latent_pair(everything)
    # (anchor, positive, negative): a triplet's embeddings, not anchor boxes
    triplet = any(_normalized(p.name.value) in ("positive", "negative", "positives", "negatives", "pos", "neg")
                  for p in everything)
    # Keras passes (y_true, y_pred) positionally to whatever is compiled; a function found by its
    # name or class (``nt_xent(z_i, z_j)``, ``forward(self, x)``) takes predictions first.
    unnamed_slots = [TRUE, PRED] if kind in ("compile", "factory", "config", "compute_loss") else \
        ([PRED, PRED] if kind != "helper" else [])
    if kind == "autograd":
        unnamed_slots = [PRED]  # forward(ctx, activations, t, num_iters): the input, then settings
    estimate_at = _estimate_reference_pair([p.name.value for p in positional[:2]]) \
        if unnamed_slots == [PRED, PRED] else None
    if estimate_at is not None:
        # forward(self, x_mag, y_mag): the estimate, then the reference; (source, estimate_source):
        # the reference, then the estimate of it
        unnamed_slots = [PRED, TRUE] if estimate_at == 0 else [TRUE, PRED]
    first_two = [_normalized(p.name.value) for p in positional[:2]]
    # ``_loss_fn(lbl, y)``: beside a parameter that can only be the labels, ``y`` is the prediction
    # ``forward(self, y, t)``, ``(x, t)``: the output, then the target (the textbook's t)
    # (lower-case ``t`` with no default and no number annotation: ``T=0.5``, ``t: float`` are temperatures)
    t_targets = kind != "helper" and len(positional) >= 2 and positional[1].name.value == "t" \
        and positional[1].default is None and not _is_scalar(positional[1]) \
        and first_two[0] in _PRED_NAMES | ROLE_PRED_NAMES | {"y"}
    y_predicts = "y" in first_two and (t_targets or any(k in _TARGET_NAMES and k != "y" for k in first_two)) \
        and not any(_normalized(p.name.value) in _PRED_NAMES for p in everything)
    # ``coral(source, target)``, ``mmd(src_feats, tgt_feats)``: two domains' features of the model
    domain_tokens = [set(p.name.value.lower().split("_")) for p in positional if p.default is None]
    domains = kind != "helper" and not batch_data and not beside_predictions \
        and any(t & _DOMAIN_WORDS for t in domain_tokens) and any(t & _TARGET_DOMAIN_WORDS for t in domain_tokens)
    for position, param in enumerate(everything):
        name = param.name.value
        key = _normalized(name)
        if domains and param.default is None and set(name.lower().split("_")) & (_DOMAIN_WORDS | _TARGET_DOMAIN_WORDS):
            taints[name] = frozenset({PRED})
            continue
        if key == "y" and y_predicts and kind != "helper":
            taints[name] = frozenset({PRED})
            continue
        if kind != "helper" and _output_beside_the_prediction(position, positional):
            taints[name] = frozenset({PRED})  # forward(self, logits, sigma, target): a second output
            continue
        if t_targets and position == 1:
            taints[name] = frozenset({TRUE})
            continue
        if key in _HOST_OBJECT_NAMES or _is_scalar(param) or key.endswith(_METADATA_SUFFIXES) \
                or names_a_handed_network(name):
            # a model, an optimizer, a config: a Python object; ``target=1.0``: a number, whatever its name;
            # ``batch_img_metas``: per-image metadata dicts (sizes, camera matrices) on the host
            taints[name] = frozenset()
        elif name in latent:
            taints[name] = frozenset({PRED})  # the encoder's mean and log-variance for the batch
        elif batch_data and key not in _PRED_NAMES and not _host_param(name, param):
            taints[name] = frozenset({TRUE})  # the batch a model's calculate_loss(interaction) reads
        elif key in _TARGET_NAMES and not (kind == "helper" and key in ("y", "ref")):
            taints[name] = frozenset({TRUE})
        elif key in _BATCH_DATA_NAMES and beside_predictions:
            taints[name] = frozenset({TRUE})  # the batch's data, no gradient
        elif _TRANSITION_NAME.match(name) and kind != "helper":
            taints[name] = frozenset({TRUE})  # observations, actions, rewards: the transitions sampled
        elif key in _BOX_PRIOR_NAMES and beside_predictions and not triplet \
                and any(_normalized(p.name.value) in _TARGET_NAMES for p in everything):
            taints[name] = frozenset({TRUE})  # loss(y_true, y_pred, anchors): a detector's anchor boxes, data
        elif key in _PRED_NAMES or (kind != "helper" and key in ROLE_PRED_NAMES):
            taints[name] = frozenset({PRED})
        elif kind != "helper" and _QUALIFIED_PREDICTION.match(name) and not _host_param(name, param):
            taints[name] = frozenset({PRED})  # dense_loss(batch, targets, loc_preds, conc_preds): outputs
        elif kind == "autograd" and position == 0 and key not in _TARGET_NAMES and not _is_scalar(param):
            taints[name] = frozenset({PRED})  # forward(ctx, features, ...): the input it differentiates
        elif key in _INPUT_IMAGE_NAMES and position > 0:
            taints[name] = frozenset({TRUE})  # loss(enhanced, originals): the input the output is compared with
        elif key in _PLAIN_IMAGE_NAMES and position > 0 and _leads_with_a_prediction(positional, unnamed_slots):
            taints[name] = frozenset({TRUE})  # smoothness(disp, img): the image the prediction follows
        elif _TARGET_SCORES.match(name):
            taints[name] = frozenset({TRUE})  # forward(self, tgt_score, score): the teacher's ranking scores
        elif position > 0 and names_a_duration(name) and not _host_param(name, param):
            taints[name] = frozenset({TRUE})  # loss(hazard_pred, lower_time, upper_time): the data's times
        elif _DATA_NAME.search(name) and not _PREDICTED_NAME.search(name) and not _NOT_DATA_NAME.search(name) \
                and not _host_param(name, param):
            taints[name] = frozenset({TRUE})  # a mask, lengths, a target-side tensor: data, no gradient
        elif key in _TENSOR_NAMES:
            taints[name] = frozenset({TENSOR})
        elif _host_param(name, param):
            taints[name] = frozenset()
        elif position < min(2, len(unnamed_slots)) and position < len(positional) and beside_predictions \
                and unnamed_slots[position] == PRED and not _host_param(name, param) \
                and not _TENSORISH.search(name) and not _PREDICTED_NAME.search(name):
            # ``forward(self, insample, freq, forecast, target, mask)``: beside a parameter named as
            # the prediction, an unnamed leading one is the model's input (data), not a second prediction
            taints[name] = frozenset({TRUE})
        elif position < min(2, len(unnamed_slots)) and position < len(positional):
            taints[name] = frozenset({unnamed_slots[position]})
        elif kind == "helper" or (param.default is not None and _is_none(param.default)) or _TENSORISH.search(name) \
                or _tensor_annotated(param):
            # helpers: the callers' arguments say what they hold; ``events: torch.Tensor``: the
            # function's own words say it is a device tensor, whatever its name
            taints[name] = frozenset({TENSOR})
        else:
            taints[name] = frozenset()
    required = [p.name.value for p in positional if p.default is None and not p.star]
    if kind not in ("helper", "autograd") and not batch_data and not any(PRED in taint for taint in taints.values()):
        # ``forward(self, gt_text, gt_kernel, training_mask, similarity_vector)``: beside the data,
        # the one required tensor that is neither data nor a weight or mask is what the model output
        by_name = {p.name.value: p for p in positional}
        unnamed = [name for name in required if taints.get(name) == frozenset({TENSOR})
                   and _normalized(name) not in _TENSOR_NAMES | _BOX_PRIOR_NAMES
                   and not _DATA_WORDS & set(name_words(name)) and not _DATA_WORDS_INSIDE.search(name)]
        if len(unnamed) == 1 and all(taints.get(name) == frozenset({TRUE}) or _host_param(name, by_name[name])
                                     for name in required if name != unnamed[0]) \
                and any(taints.get(name) == frozenset({TRUE}) for name in required):
            taints[unnamed[0]] = frozenset({PRED})
    if kind in ("named", "signature") and len(required) == 1 and not batch_data \
            and _normalized(required[0]) in _TARGET_NAMES and taints.get(required[0]) == frozenset({TRUE}) \
            and not any(PRED in taint for taint in taints.values()):
        # ``def tv_loss(y)``: a loss of one tensor is a loss of the prediction, whatever its name
        taints[required[0]] = frozenset({PRED})
    return taints


# a distribution's parameters, named as the settings they often are (``sigma=1.0``)
_DISTRIBUTION_PARAMETERS = frozenset({"sigma", "mu"})  # (not beta, scale: Smooth L1's, ArcFace's settings)


def _output_beside_the_prediction(position: int, positional) -> bool:
    """``forward(self, logits, sigma, target)``: a distribution's parameter that the call must give,
    placed after the prediction and before the target, is a second output of the model (a
    setting comes after the tensors, or with a default)."""
    if position >= len(positional):
        return False  # a keyword-only parameter
    param = positional[position]
    if param.default is not None or param.star or param.annotation is not None \
            or _normalized(param.name.value) not in _DISTRIBUTION_PARAMETERS:
        return False
    before = [_normalized(p.name.value) for p in positional[:position]]
    after = [_normalized(p.name.value) for p in positional[position + 1:]]
    return any(n in _PRED_NAMES for n in before) and any(n in _TARGET_NAMES for n in after)


# words of a parameter that hold data however the rest of its name reads (``weightMap``,
# ``anchor_points``, ``ignoremask``): never the model's output a loss's other parameters leave
_DATA_WORDS = frozenset({"wt", "ignore", "valid", "lengths", "lens"})
_DATA_WORDS_INSIDE = compile_lazily(r"mask|weight|anchor|prior", re.IGNORECASE)  # anywhere in the name
# a detector's box priors beside the targets and predictions: constants of the model, not outputs
_BOX_PRIOR_NAMES = frozenset({"anchor", "anchors", "anchorboxes", "priors", "priorboxes", "defaultboxes"})


def _latent_pair(params: list[cst.Param]) -> set[str]:
    """The parameters that hold a VAE's latent mean and spread when both are there, neither a
    number (``mu=0.0``) nor annotated as one: ``(mu, logvar)``, ``(z_mean, z_log_var)``."""
    # a default other than None (``mean=(0.485, ...)``, ``std=IMAGENET_STD``) is a constant, not an output
    free = [p for p in params if not _is_scalar(p) and (p.default is None or _is_none(p.default))]
    means = [p.name.value for p in free if _LATENT_MEAN.match(p.name.value)]
    spreads = [p.name.value for p in free if _LATENT_SPREAD.match(p.name.value)]
    return set(means + spreads) if means and spreads else set()


# what a siamese distance layer calls the pair of embeddings it is given
_EMBEDDING_PAIR_NAMES = frozenset({"vects", "vectors", "vecs", "vec", "embeddings", "embs", "pair", "pairs", "inputs",
                                   "tensors", "features", "feats", "encodings", "outputs", "twins", "x", "args"})


def _siamese_distance(info: FunctionInfo) -> bool:
    """``def euclidean_distance(vects): x, y = vects; return ...``: the distance a siamese
    network's ``Lambda`` layer computes between the two embeddings, the value its contrastive loss
    is trained on -- one parameter, the pair, unpacked first thing, in a function named a distance.

        >>> import libcst as cst
        >>> from keras_bsguard.lint.module_index import ModuleIndex
        >>> index = ModuleIndex.build(cst.parse_module(
        ...     "def l2_dist(pair):\\n    a, b = pair\\n    return K.sqrt(K.sum(K.square(a - b), axis=1))\\n"))
        >>> _siamese_distance(index.functions[0])
        True
    """
    if info.class_info is not None or not isinstance(info.node, cst.FunctionDef) \
            or not _name_tokens(info.name) & {"distance", "dist", "euclidean", "eucl", "euclid"}:
        return False
    params = [*info.node.params.posonly_params, *info.node.params.params]
    if len(params) != 1 or params[0].default is not None or info.node.params.kwonly_params \
            or _normalized(params[0].name.value) not in _EMBEDDING_PAIR_NAMES:
        return False  # distance_from_origin(coords), radial_distance(grid): geometry, not embeddings
    if any(isinstance(node, cst.Attribute) and node.attr.value in ("numpy", "cpu") for node in own_nodes(info.node)):
        return False  # computed on the host: an evaluation, not a layer of the model
    body = block_statements(info.node.body)
    first = body[1] if len(body) > 1 and info.node.get_docstring() is not None else (body[0] if body else None)
    if not isinstance(first, cst.SimpleStatementLine) or not isinstance(first.body[0], cst.Assign):
        return False
    assign = first.body[0]
    target = assign.targets[0].target if len(assign.targets) == 1 else None
    return isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2 \
        and all(isinstance(e.value, cst.Name) for e in target.elements) \
        and isinstance(assign.value, cst.Name) and assign.value.value == params[0].name.value


def _says_kl_term(info: FunctionInfo) -> bool:
    """``kl_divergence(mu, logvar)``, ``KLD.kld(self, mu, log_std)``: a VAE's KL term, named so and
    taking the latent statistics."""
    tokens = _name_tokens(info.name)
    if info.class_info is not None and info.name in LOSS_CLASS_METHODS:
        tokens |= _name_tokens(info.class_info.name)  # class KLD: def forward(self, mu, logvar)
    # a beta-TCVAE's total correlation, estimated on the batch from the sampled latents beside the
    # pair (total_correlation(z, z_mean, z_logvar)), is such a term too; not a closed form of the pair
    kl_term = bool(tokens & {"kl", "kld", "kldiv", "kldivergence", "elbo", "divergence"})
    total_correlation = {"total", "correlation"} <= tokens or "totalcorrelation" in tokens
    if not kl_term and not total_correlation:
        return False
    params = [p for p in [*info.node.params.posonly_params, *info.node.params.params]
              if p.name.value not in ("self", "cls")]
    pair = _latent_pair(params)
    if not kl_term:  # the total correlation also takes the samples
        return bool(pair) and any(p.name.value not in pair and not _is_scalar(p) and p.default is None for p in params)
    return bool(pair)


def _estimate_reference_pair(names: list[str]) -> int | None:
    """Which of two parameters is the estimate when they name the same quantity of the estimate
    and of the reference: ``(x_mag, y_mag)`` as audio and perceptual losses name them (the first);
    ``(source, estimate_source)``, ``(source_cspec, est_cspec)``, ``(mag, mag_hat)`` (the one the
    estimate's word marks). None when the names do not say.

        >>> _estimate_reference_pair(["x_mag", "y_mag"]), _estimate_reference_pair(["source", "estimate_source"])
        (0, 1)
        >>> _estimate_reference_pair(["source_cspec", "est_cspec"]), _estimate_reference_pair(["z_i", "z_j"])
        (1, None)
    """
    if len(names) != 2:
        return None
    first, second = names
    if first.startswith("x_") and second.startswith("y_") and first[2:] == second[2:] and len(first) > 2:
        return 0
    words = [name_words(first), name_words(second)]
    for estimate, reference in ((0, 1), (1, 0)):
        marked, plain = words[estimate], words[reference]
        if not marked or not plain or any(w in _ESTIMATE_WORDS for w in plain):
            continue
        if (marked[0] in _ESTIMATE_WORDS and (marked[1:] == plain or (len(plain) > 1 and marked[1:] == plain[1:]))) \
                or (marked[-1] in _ESTIMATE_WORDS and (marked[:-1] == plain
                                                       or (len(plain) > 1 and marked[:-1] == plain[:-1]))):
            return estimate
    return None


# a word that marks a parameter as the estimate of a quantity another parameter holds for the reference
_ESTIMATE_WORDS = frozenset({"est", "estimate", "estimated", "pred", "predicted", "enhanced", "denoised", "hat",
                             "recon", "reconstructed"})


_TYPE_COMMENT = compile_lazily(r"#\s*type:\s*\((?P<args>.*)\)\s*->")
_DOC_ARG = compile_lazily(r"^\s*\*{0,2}(?P<name>[A-Za-z_]\w*)\s*(?:\((?P<google>[^)]*\)?)\)\s*:|:\s*(?P<numpy>[^\n]+)$)")

def documented_host_params(node: cst.FunctionDef) -> frozenset[str]:
    """Parameters that the function's own words say hold Python values: an annotation
    (``sizes: List[List[int]]``), a type comment (``# type: (List[List[int]]) -> List[int]``), or a
    docstring entry (``gt_groups (List[int]): ...``, numpy's ``gt_groups : list of int``) whose
    type names no tensor or array.

        >>> import libcst as cst
        >>> f = cst.parse_module("def f(a, b):\\n    # type: (List[int], Tensor) -> int\\n    return 1\\n").body[0]
        >>> sorted(documented_host_params(f))
        ['a']
    """
    params = _own_params(node)
    host = {p.name.value for p in params if p.annotation is not None and (
        _host_container(p.annotation.annotation) or _scalar_annotation(p.annotation.annotation))}
    body = node.body
    leading = getattr(body, "header", None)
    comments = [leading.comment.value] if leading is not None and getattr(leading, "comment", None) else []
    statements = getattr(body, "body", ())
    if statements:
        comments += [line.comment.value for line in getattr(statements[0], "leading_lines", ()) if line.comment]
    annotated = {p.name.value for p in params if p.annotation is not None}
    for comment in comments:
        match = _TYPE_COMMENT.search(comment)
        if match:
            types = _split_types(match.group("args"))
            for param, text in zip(params, types):
                if _is_host_type(text) and param.name.value not in annotated:
                    host.add(param.name.value)
    for name, text in _docstring_types(node, params).items():
        # a docstring's "float" often means a float tensor ("y_pred (float): predictions")
        if name not in annotated and _is_host_type(text) and not re.match(r"^(optional\[)?float", text, re.IGNORECASE):
            host.add(name)
    return frozenset(host)


def _takes_host_values(info: FunctionInfo) -> bool:
    """``def align_labels_to_frames(probs, labels)`` documenting both as ``List[float]``/``List[int]``
    (or annotated ``Union[str, List[float]]``): the prediction and target it takes are Python
    values, so it is data or evaluation code, whatever its signature looks like."""
    pair = _positional_names(info)[:2]
    return len(pair) == 2 and set(pair) <= documented_host_params(info.node)


def _own_params(node: cst.FunctionDef) -> list[cst.Param]:
    """The function's parameters, ``self``/``cls`` left out."""
    return [p for p in [*node.params.posonly_params, *node.params.params, *node.params.kwonly_params]
            if p.name.value not in ("self", "cls")]


def _docstring_types(node: cst.FunctionDef, params: list[cst.Param]) -> dict[str, str]:
    """Parameter name -> the type its docstring entry gives (``gt_groups (List[int]): ...``,
    numpy's ``gt_groups : list of int``)."""
    names = {p.name.value for p in params}
    types = {}
    for line in _docstring(node).splitlines():
        match = _DOC_ARG.match(line)
        if match and match.group("name") in names:
            types[match.group("name")] = (match.group("google") or match.group("numpy") or "").strip()
    return types


_TENSOR_LIST = compile_lazily(r"^(?:optional\[)?(?:list|sequence|tuple|iterable)\[(?:torch\.|tf\.|jax\.|np\.)?"
                              r"(?:tensor|array|ndarray)\b|^(?:a )?(?:list|sequence|tuple) of (?:torch\.|tf\.)?tensors?\b"
                              # espnet's "List[(Batch, T, F) * spks]": a list of shaped tensors
                              r"|^(?:list|sequence|tuple)\[\s*[(\[]\s*(?:b|n|bs|batch|batch_size)\s*,",
                              re.IGNORECASE)


def documented_tensor_lists(node: cst.FunctionDef) -> frozenset[str]:
    """Parameters that the annotation or docstring says are Python lists of tensors
    (``ref: List[torch.Tensor]``, ``ref (List[torch.Tensor]): ...``, ``ref : list of Tensor``):
    ``len(ref)`` is the list's length (speakers, levels), not the batch.

        >>> import libcst as cst
        >>> f = cst.parse_module("def f(ref: List[torch.Tensor], inf):\\n    return ref\\n").body[0]
        >>> sorted(documented_tensor_lists(f))
        ['ref']
        >>> doc = "    '''Args:\\n        ref: List[(Batch, T, F) * spks]\\n    '''\\n"
        >>> g = cst.parse_module("def g(ref, inf):\\n" + doc).body[0]
        >>> sorted(documented_tensor_lists(g))
        ['ref']
    """
    params = _own_params(node)
    found = {p.name.value for p in params if p.annotation is not None
             and _TENSOR_LIST.match(cst.Module([]).code_for_node(p.annotation.annotation).strip())}
    # (Google style quotes the type: "labels: List of `Tensor` objects of ground truth targets")
    found |= {name for name, text in _docstring_types(node, params).items()
              if _TENSOR_LIST.match(text.replace("`", "").strip())}
    return frozenset(found)


# A shape whose first axis is the batch, as a docstring gives a parameter's type (``[B, n1, d]``,
# ``(N, C)``, ``(batch_size, dim)``)
_BATCH_FIRST_SHAPE = compile_lazily(r"^(?:(?:torch\.|tf\.)?tensor\s*(?:of shape\s*)?)?"
                                    r"[\[(]\s*(?:b|n|bs|batch|batch_size|batchsize)\s*[,x\])]", re.IGNORECASE)


# "z_i and z_j are normalized", "x: L2-normalized embeddings": the values themselves are unit
# vectors (not "normalized by the batch size", "normalized inside the head", "need not be normalized")
_SAYS_NORMALIZED = compile_lazily(r"\b(?:are|is|be)\s+(?:already\s+)?(?:l2[- ]?|unit[- ])?normali[sz]ed\b"
                                  r"(?!\s+(?:by|with|to|inside|in|within|over|across|along|per|before|after|later|"
                                  r"elsewhere|here|there|first))", re.IGNORECASE)
_NORMALIZED_ENTRY = compile_lazily(r"^\s*(?:an?\s+|the\s+)?(?:l2[- ]?|unit[- ])?normali[sz]ed\b|\b(?:l2|unit)[- ]"
                                   r"(?:normali[sz]ed|norm)\b", re.IGNORECASE)
_NOT_NORMALIZED = compile_lazily(r"\b(?:not|non|never|need\s+not|un|raw)\b[\s-]*(?:be\s+)?(?:l2[- ]?)?normali|"
                                 r"\bunnormali|\bnon-?normali|n't\b", re.IGNORECASE)


def documented_normalized(node: cst.FunctionDef) -> frozenset[str]:
    """Parameters that the docstring says are L2-normalised: a sentence that names them and says
    they *are* normalized (``assume out_1 and out_2 are normalized``), or their own entry that
    starts with it (``z: L2-normalized embeddings``). Their dot products are cosines, in [-1, 1].
    Not "normalized by the batch size", "normalized inside the head", "need not be normalized".

        >>> import libcst as cst
        >>> f = cst.parse_module("def f(a, b, t):\\n    'a and b are normalized.'\\n    return a @ b.T\\n").body[0]
        >>> sorted(documented_normalized(f))
        ['a', 'b']
        >>> g = cst.parse_module("def g(a, b):\\n    'the loss is normalized by the batch size'\\n").body[0]
        >>> sorted(documented_normalized(g))
        []
    """
    params = _own_params(node)
    names = {p.name.value for p in params}
    found = set()
    for line in _docstring(node).splitlines():
        if _NOT_NORMALIZED.search(line):
            continue
        match = _DOC_ARG.match(line)
        if match and match.group("name") in names:
            entry = line[match.end():] if match.group("numpy") is None else match.group("numpy")
            if _NORMALIZED_ENTRY.search(entry) or _NORMALIZED_ENTRY.search(match.group("google") or ""):
                found.add(match.group("name"))
            continue
        said = _SAYS_NORMALIZED.search(line)
        if said:
            found |= names & set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", line[:said.start()]))
    return frozenset(found)


# a parameter's own docstring entry, in Sphinx's form: ``:param inputx: softmax probability ...``
_SPHINX_PARAM = compile_lazily(r"^\s*:param\s+(?:[\w\[\], .]+\s+)?(?P<name>[A-Za-z_]\w*)\s*:(?P<entry>.*)$")
# an entry that says the values are probabilities (not log-probabilities): what a softmax or a
# sigmoid gives, each entry positive
_PROBABILITY_ENTRY = compile_lazily(r"^[\s\w,.\[\]()-]*?\b(softmax|sigmoid)(ed)?\s+(output|probabilit(y|ies))"
                                    r"|^\s*(the\s+|an?\s+)?(predicted\s+|class\s+|output\s+)*probabilit(y|ies)\b",
                                    re.IGNORECASE)


def documented_probabilities(node: cst.FunctionDef) -> frozenset[str]:
    """Parameters whose own docstring entry says they hold probabilities, a softmax's or a
    sigmoid's output (``:param inputx: softmax probability along dimension K``, ``probs (Tensor):
    predicted probabilities``): positive entries, in [0, 1]. Not log-probabilities.

        >>> import libcst as cst
        >>> f = cst.parse_module("def f(x, t):\\n    '''\\n    :param x: softmax probability, (B, K)\\n    '''\\n").body[0]
        >>> sorted(documented_probabilities(f))
        ['x']
        >>> g = cst.parse_module("def g(x, t):\\n    '''x (Tensor): log probabilities'''\\n").body[0]
        >>> sorted(documented_probabilities(g))
        []
    """
    names = {p.name.value for p in _own_params(node)}
    found = set()
    for line in _docstring(node).splitlines():
        sphinx = _SPHINX_PARAM.match(line)
        if sphinx:
            name, entry = sphinx.group("name"), sphinx.group("entry")
        else:
            match = _DOC_ARG.match(line)
            if not match:
                continue
            name = match.group("name")
            entry = line[match.end():] if match.group("numpy") is None else match.group("numpy")
        lowered = entry.lower()
        if name in names and "log" not in lowered and " or " not in lowered and "score" not in lowered \
                and _PROBABILITY_ENTRY.search(entry):  # not "probabilities, or raw scores"
            found.add(name)
    return frozenset(found)


def documented_batch_tensors(node: cst.FunctionDef) -> frozenset[str]:
    """Parameters whose docstring gives them a shape with the batch first (``x: [B, n, d]``,
    ``x (Tensor of shape (N, C)): ...``): one tensor, so iterating it walks its samples, whatever
    its name says (a plural name alone may be a list of outputs).

        >>> import libcst as cst
        >>> f = cst.parse_module("def f(feats, refs):\\n    '''feats: [B, n, D]\\n    refs: list'''\\n").body[0]
        >>> sorted(documented_batch_tensors(f))
        ['feats']
    """
    params = _own_params(node)
    return frozenset(name for name, text in _docstring_types(node, params).items()
                     if _BATCH_FIRST_SHAPE.match(text.strip("`")))


# "tensor of size PxVxNxC", "of shape [L, B, D]": the symbols of a documented shape
_DOCUMENTED_SHAPE = compile_lazily(r"(?:size|shape)\s*(?:of\s*)?[\[(]?\s*([A-Za-z_]+(?:\s*(?:x|,|\*)\s*[A-Za-z_]+)+)")
_BATCH_SYMBOLS = frozenset({"b", "n", "bs", "batch", "batch_size", "batchsize", "bsz"})
# "Shape: (Time, Output_Size)", "shape: (T, D)"
_DOCUMENTED_SHAPE_COLON = compile_lazily(r"(?:size|shape)\s*:\s*[\[(]\s*([A-Za-z_]+(?:\s*,\s*[A-Za-z_]+)+)", re.IGNORECASE)
# the feature axes of one sequence's shape ("Output_Size", "latent_dim", "D", "C"): not a count of
# environments, agents or samples
_FEATURE_SYMBOL = compile_lazily(r"^([dcfhk]|dim|dims|features?|channels?|\w*_(size|dim|dims|features|channels))$",
                                 re.IGNORECASE)
# the nodes of one scene's graph (a structural RNN's pedestrians); not ``num_peds``, ``points``: a
# batch's sequences are often stacked along that axis (Social-GAN)
_ENTITY_SYMBOL = compile_lazily(r"^(num_?|n_?)?nodes$", re.IGNORECASE)
# a leading axis of time steps: with only feature axes beside it, the tensor is one sequence
_TIME_SYMBOLS = frozenset({"t", "time", "times", "timesteps", "time_steps", "steps", "n_steps", "num_steps",
                           "seq_len", "seq_length", "seqlen", "sequence_length", "horizon", "frames",
                           "num_frames", "n_frames"})


# what a leading axis may count when it is not the batch: "P is the number of prototype layers"
_COUNTED_AXIS = r"\b{symbol}\s+(?:is|=|:)\s+(?:the\s+)?(?:number|num|count)\s+of\s+(?:the\s+)?([A-Za-z_]+)"
_SAMPLE_WORDS = frozenset({"image", "images", "sample", "samples", "example", "examples", "sequence", "sequences",
                           "item", "items", "instance", "instances", "input", "inputs", "batch", "batches",
                           "element", "elements", "sentence", "sentences", "utterance", "utterances"})


def documented_later_batch_axis(node: cst.FunctionDef) -> frozenset[str]:
    """Parameters whose docstring entry gives a shape with the batch after another axis and says
    what that axis counts (``outputs (torch.Tensor): tensor of size PxVxNxC where P is the number
    of prototype layers``): axis 0 counts something else, so ``range(outputs.size(0))`` is no batch
    loop. Not ``(num_images, N, 4)``: its first axis is the batch under another name. So are
    parameters documented as one sequence, time steps first and no batch axis (``ys: Shape: (Time,
    Output_Size)``, one scene's ``seq_length x numNodes x output_size``): the function handles one
    trajectory (or scene).

        >>> import libcst as cst
        >>> f = cst.parse_module("def f(outs):\\n    'outs (Tensor): size PxNxC, P is the number of heads'\\n").body[0]
        >>> sorted(documented_later_batch_axis(f))
        ['outs']
        >>> f = cst.parse_module("def f(ys, zs, xs):\\n    \'\'\'ys (Array): Shape: (Time, D).\\n    zs (Array): Shape: (T, B, D).\\n"
        ...                      "    xs: tensor of shape seq_length x numNodes x output_size\'\'\'\\n").body[0]
        >>> sorted(documented_later_batch_axis(f))
        ['xs', 'ys']
    """
    names = {p.name.value for p in _own_params(node)}
    entries: dict[str, str] = _parameter_comments(node)
    current = None
    for line in _docstring(node).splitlines():
        match = _DOC_ARG.match(line)
        if match and match.group("name") in names:
            current = match.group("name")
        elif match or not line.strip():
            current = None
        if current is not None:
            entries[current] = entries.get(current, "") + " " + line.strip()
    found = set()
    for name, text in entries.items():
        entry = re.sub(r"^\*{0,2}\w+\s*(?:\([^)]*\))?\s*:\s*", "", text.strip())  # "xyz (Tensor): ..."
        if _one_sample_shape(entry) and name.lower() not in ("y_true", "y_pred"):
            found.add(name)  # "xyz: (L, 3) coordinates", ``xyz,  # [L, 3]``: one chain's residues
            continue
        shape = _DOCUMENTED_SHAPE.search(text) or _DOCUMENTED_SHAPE_COLON.search(text)
        if not shape:
            continue
        symbols = re.split(r"\s*(?:x|,|\*)\s*", shape.group(1))
        first = symbols[0]
        if first.lower() in _TIME_SYMBOLS and len(symbols) >= 2 and name.lower() not in ("y_true", "y_pred") \
                and all(_FEATURE_SYMBOL.match(s) or _ENTITY_SYMBOL.match(s) for s in symbols[1:]):
            # "Shape: (Time, Output_Size)": one trajectory, mapped over the batch elsewhere; "shape
            # seq_length x numNodes x output_size": one scene's nodes over time
            found.add(name)
            continue
        if first.lower() in _BATCH_SYMBOLS or not any(s.lower() in _BATCH_SYMBOLS for s in symbols[1:]):
            continue
        counted = re.search(_COUNTED_AXIS.format(symbol=re.escape(first)), text)
        if counted and counted.group(1).lower() not in _SAMPLE_WORDS:
            found.add(name)
    return frozenset(found)


# a shape given first in a parameter's entry or comment: ``(L, 3) backbone coordinates``, ``# [L, L, n_bins]``
_LEADING_SHAPE = compile_lazily(r"^[\[(]\s*(\w+(?:\s*,\s*\w+)+)\s*[\])]")
# a leading axis that counts the positions of one sequence or structure (residues, atoms)
_LENGTH_SYMBOLS = frozenset({"l", "len", "length", "n_res", "n_residues", "num_residues", "residues", "n_atoms",
                             "num_atoms", "atoms"})


def _one_sample_shape(text: str) -> bool:
    """A documented shape of one sample: its positions first (``L``, ``T``), then only the same
    count, feature axes or literal sizes (``(L, 3)``, ``[L, L, D]``, ``[T, 2]``), no batch axis.

        >>> [_one_sample_shape(t) for t in ("(L, 3) coordinates", "[L, L, D]", "[B, L, 3]", "(N, 3)", "[T]",
        ...                                   "(seq_len, batch_size, hidden_size)")]
        [True, True, False, False, False, False]
    """
    shape = _LEADING_SHAPE.match(text.strip().strip("`"))
    if not shape:
        return False
    symbols = [symbol.lower() for symbol in re.split(r"\s*,\s*", shape.group(1))]
    first = symbols[0]
    if any(symbol in _BATCH_SYMBOLS or "batch" in symbol for symbol in symbols):
        return False  # (seq_len, batch_size, hidden_size): time-major, the batch second
    return (first in _LENGTH_SYMBOLS or first in _TIME_SYMBOLS) and all(
        symbol == first or symbol.isdigit() or _FEATURE_SYMBOL.match(symbol) for symbol in symbols[1:])


def _parameter_comments(node: cst.FunctionDef) -> dict[str, str]:
    """Parameter name -> the comment on its line (``xyz: torch.Tensor,  # [L, 3]``), its ``#`` dropped."""
    comments = {}
    for param in _own_params(node):
        whitespace = getattr(param.comma, "whitespace_after", None)
        comment = getattr(getattr(whitespace, "first_line", None), "comment", None)
        if comment is not None:
            comments[param.name.value] = comment.value.lstrip("#").strip()
    return comments


# a cross-correlation matrix is features x features (Barlow Twins): the batch was contracted away
# before it was passed (not covariances or Gram matrices: a model may predict one per sample)
_FEATURE_MATRIX_WORDS = frozenset({"correlation"})


def _feature_matrices(node: cst.FunctionDef) -> frozenset[str]:
    """Parameters named as a correlation matrix (``cross_correlation_matrix``): their axis 0 counts
    features, not samples."""
    return frozenset(p.name.value for p in _own_params(node) if _name_tokens(p.name.value) & _FEATURE_MATRIX_WORDS)


# a parameter named for one sentence (the PyTorch BiLSTM-CRF tutorial's ``neg_log_likelihood(self,
# sentence, tags)``): its length is the sentence's, not a batch size
_ONE_SENTENCE_NAMES = frozenset({"sentence", "utterance"})


def _one_sentence_params(node: cst.FunctionDef) -> frozenset[str]:
    """A negative log-likelihood method taking one sentence or utterance by name
    (``neg_log_likelihood(self, sentence, tags)``): ``len(sentence)`` counts its words, and its
    other parameters (the tags) are that sentence's too, so the rows of what is computed from them
    are positions, not samples. Elsewhere (``forward(self, sentence, positive)`` of a sentence
    embedding loss) the name says nothing about a batch."""
    params = _own_params(node)
    if not _names_a_negative_likelihood(node.name.value) \
            or not any(p.name.value.lower() in _ONE_SENTENCE_NAMES for p in params):
        return frozenset()
    return frozenset(p.name.value for p in params if p.default is None)


def _split_types(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        depth += char == "[" or char == "("
        depth -= char == "]" or char == ")"
        current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def _is_host_type(text: str) -> bool:
    """``int``, ``List[int]``, ``Dict[str, int]``, ``list of int``, ``Optional[bool]``: Python values
    all the way down. A bare ``list``/``dict`` may hold tensors, so it does not count.

        >>> [_is_host_type(t) for t in ("List[List[int]]", "dict", "Dict[str, Tensor]", "list of int")]
        [True, False, False, True]
    """
    words = re.findall(r"[A-Za-z_][\w.]*", text.strip().strip("`"))
    words = [w for w in words if w.lower() not in ("of", "optional")]
    return bool(words) and all(w in _HOST_TYPE_WORDS for w in words) and any(w.rstrip("s") in _SCALAR_ANNOTATIONS for w in words)


_HOST_TYPE_WORDS = frozenset({"int", "float", "bool", "str", "ints", "floats", "bools", "strs", "List", "list",
                              "Tuple", "tuple", "Sequence", "Dict", "dict", "Set", "set", "Iterable", "Mapping",
                              "Optional", "Union", "None"})


def _docstring(node: cst.FunctionDef) -> str:
    statements = getattr(node.body, "body", ())
    if not statements or not isinstance(statements[0], cst.SimpleStatementLine):
        return ""
    first = statements[0].body[0] if statements[0].body else None
    if isinstance(first, cst.Expr) and isinstance(first.value, (cst.SimpleString, cst.ConcatenatedString)):
        value = first.value.evaluated_value if isinstance(first.value, cst.SimpleString) else None
        return value if isinstance(value, str) else ""
    return ""


def _host_container(annotation: cst.BaseExpression) -> bool:
    """``List[List[int]]``, ``Dict[str, int]``, ``Tuple[int, ...]``: a Python container of host values."""
    base = annotation.value if isinstance(annotation, cst.Subscript) else annotation
    base_name = base.attr.value if isinstance(base, cst.Attribute) else getattr(base, "value", None)
    if base_name not in _CONTAINER_ANNOTATIONS:
        return False
    return _is_host_type(cst.Module([]).code_for_node(annotation).replace("...", ""))


def _bookkeeping(info: FunctionInfo) -> bool:
    """A helper named for bookkeeping (``log_metrics``, ``print_stats``, ``plot_``, ``record_``): it
    runs beside the loss, not in its value. A ``log_`` helper named for a quantity that returns a
    value it computes (``log_density(z, mu, logvar)``, ``log_normal_pdf``, ``log_sum_exp``) is the
    log of that quantity, part of the loss.

        >>> import libcst as cst
        >>> from keras_bsguard.lint.module_index import ModuleIndex
        >>> index = ModuleIndex.build(cst.parse_module(
        ...     "def log_metrics(x):\\n    print(x)\\n"
        ...     "def log_density(x, mu):\\n    return -0.5 * (x - mu) ** 2\\n"))
        >>> [_bookkeeping(f) for f in index.functions]
        [True, False]
    """
    name = info.name.lstrip("_").lower()
    if not name.startswith(_BOOKKEEPING_PREFIXES):
        return False
    return not name.startswith("log_") or not set(name.split("_")[1:]) & _LOG_QUANTITY_WORDS \
        or not _returns_computed_value(info.node)


# what the log of a quantity is named for: log_density, log_normal_pdf, log_sum_exp, log_t (the
# tempered logarithm), log_cosh; not log_metrics, log_images, log_stats
_LOG_QUANTITY_WORDS = frozenset({
    "density", "dens", "prob", "probs", "proba", "probability", "probabilities", "likelihood", "lik", "pdf",
    "pmf", "cdf", "normal", "gaussian", "gauss", "bernoulli", "poisson", "laplace", "categorical", "mixture",
    "dirichlet", "gamma", "beta", "binomial", "logistic", "sum", "exp", "sumexp", "softmax", "sigmoid", "cosh",
    "ratio", "odds", "det", "determinant", "partition", "posterior", "prior", "t", "q", "p", "var", "std",
    "sigma", "variance", "kernel"})


def _returns_computed_value(node: cst.FunctionDef) -> bool:
    """The function's own body returns an expression that is not a constant, a name of a literal
    or None (``return -0.5 * (x - mu) ** 2``; not ``return`` alone or ``return None``)."""
    for statement in own_nodes(node):
        if isinstance(statement, cst.Return) and statement.value is not None \
                and not isinstance(statement.value, (cst.Name, cst.SimpleString, cst.Integer, cst.Float,
                                                     cst.Dict, cst.FormattedString)):
            return True
    return False


def _returns_host_values(node: cst.FunctionDef) -> bool:
    """A function annotated to return Python containers of host values (``-> tuple[list[int],
    list[int]]``, ``-> dict[str, float]``): a helper that prepares host data (token lists for a
    request to a server) or figures for a log, not part of the loss's tensor computation. A
    ``-> int`` helper is not one: ``int(x.max().item())`` is a device sync inside the loss.

        >>> import libcst as cst
        >>> [_returns_host_values(cst.parse_statement(f"def f(x) -> {a}: pass")) for a in ("list[list[int]]", "Tensor", "tuple[Tensor, int]")]
        [True, False, False]
    """
    returns = node.returns
    if returns is None:
        return False
    annotation = returns.annotation
    return _host_container(annotation)


def _scalar_annotation(annotation: cst.BaseExpression) -> bool:
    """``float``, ``str | None``, ``Optional[int]``, ``Union[int, float]``: a Python scalar (or None);
    a union may also name containers of them (``Union[str, List[float]]``)."""
    if isinstance(annotation, cst.Name):
        return annotation.value in _SCALAR_ANNOTATIONS
    if isinstance(annotation, cst.BinaryOperation) and isinstance(annotation.operator, cst.BitOr):
        parts = [annotation.left, annotation.right]
    elif isinstance(annotation, cst.Subscript) and getattr(annotation.value, "value", None) in ("Optional", "Union") \
            or isinstance(annotation, cst.Subscript) and getattr(annotation.value, "attr", None) is not None \
            and annotation.value.attr.value in ("Optional", "Union"):
        parts = [element.slice.value for element in annotation.slice if isinstance(element.slice, cst.Index)]
    else:
        return False
    scalars = [part for part in parts if not _is_none(part)]
    # Union[str, List[float]]: a path or a list of numbers, host values either way
    return bool(scalars) and all(_scalar_annotation(part) or _host_container(part) for part in scalars)


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


_TENSOR_ANNOTATION = compile_lazily(r"\b(Tensor|ndarray|Array|ArrayLike|KerasTensor|Variable)\b")


def _tensor_annotated(param: cst.Param) -> bool:
    """The parameter's annotation names one device tensor (``torch.Tensor``, ``tf.Tensor``,
    ``jax.Array``, ``Optional[Tensor]``), not a numpy array or a container of tensors.

        >>> import libcst as cst
        >>> def param(source):
        ...     return cst.parse_module(f"def f({source}): pass").body[0].params.params[0]
        >>> [_tensor_annotated(param(s)) for s in ("e: torch.Tensor", "e: Optional[tf.Tensor]", "e: jnp.ndarray")]
        [True, True, True]
        >>> [_tensor_annotated(param(s)) for s in ("e: np.ndarray", "e: List[torch.Tensor]", "e: float", "e")]
        [False, False, False, False]
    """
    if param.annotation is None:
        return False
    text = cst.Module([]).code_for_node(param.annotation.annotation).replace(" ", "")
    optional = re.fullmatch(r"(?:typing\.)?Optional\[(.*)\]|(.*)\|None|None\|(.*)", text)
    if optional:
        text = next(part for part in optional.groups() if part is not None)
    return re.fullmatch(r"(?:[A-Za-z_]\w*\.)*(?:Tensor|KerasTensor|Array)|(?:jnp|jax\.numpy)\.ndarray", text) is not None


def _host_param(name: str, param: cst.Param) -> bool:
    """A hyperparameter by its name (``p``, ``alpha``) or a Python scalar by its annotation or default;
    an annotation naming a tensor (``p: List[Tensor]``) overrides the name."""
    if _is_scalar(param) or name == "T":  # ``T``: a temperature, by the papers' convention
        return True
    if param.annotation is not None and _TENSOR_ANNOTATION.search(
            cst.Module([]).code_for_node(param.annotation.annotation)):
        return False
    return bool(_HYPER_NAME.match(name))


def _is_scalar(param: cst.Param) -> bool:
    if param.annotation is not None:
        annotation = param.annotation.annotation
        if isinstance(annotation, cst.Name) and annotation.value in _SCALAR_ANNOTATIONS:
            return True
        if _host_container(annotation):
            return True
    default = param.default
    if default is None:
        return False
    if isinstance(default, (cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString)):
        return True
    if isinstance(default, cst.UnaryOperation) and isinstance(default.expression, (cst.Integer, cst.Float)):
        return True
    if isinstance(default, (cst.List, cst.Tuple)) and default.elements and all(
            _a_number_literal(e.value) for e in default.elements):
        return True  # interval=[-0.1, 1.1], betas=(0.9, 0.999): Python numbers, a setting
    if isinstance(default, cst.Call) and isinstance(default.func, cst.Name) and default.func.value in ("float", "int") \
            and len(default.args) == 1 and isinstance(default.args[0].value, (cst.SimpleString, cst.Integer, cst.Float)):
        return True  # c1=float("inf"): a Python number
    if isinstance(default, cst.Attribute) and isinstance(default.value, cst.Name) \
            and default.value.value in ("math", "np", "numpy") and default.attr.value in _NUMBER_CONSTANTS:
        return True  # cap=math.inf, scale=np.pi
    if isinstance(default, cst.Attribute):
        parts = dotted_parts(default)
        if parts and parts[0].lower() in CONFIG_NAMES and not _DATA_ATTRIBUTE.search(parts[-1]):
            # warmup=config.optim.warmup, margin=cfg.LOSS.MARGIN: a run's setting (not
            # weight=args.class_weight, which a script may have set to a device tensor)
            return True
    return isinstance(default, cst.Name) and default.value in ("True", "False")


_NUMBER_CONSTANTS = frozenset({"inf", "pi", "e", "tau", "nan", "Inf", "NaN", "Infinity"})


def _a_number_literal(node) -> bool:
    """``1.1``, ``-0.1``, ``3``."""
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, (cst.Minus, cst.Plus)):
        node = node.expression
    return isinstance(node, (cst.Integer, cst.Float))


# ---- small tree helpers -----------------------------------------------------------------

def compile_loss_arguments(call: cst.Call) -> list[cst.BaseExpression]:
    """What a ``compile(...)`` call hands Keras as its loss: ``loss=`` or the second positional.

        >>> [cst.Module([]).code_for_node(e) for e in compile_loss_arguments(
        ...     cst.parse_expression("model.compile(optimizer='adam', loss=my_loss)"))]
        ['my_loss']
    """
    found = []
    positional = [a for a in call.args if a.keyword is None and not a.star]
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "loss":
            found.append(arg.value)
    if not found and len(positional) >= 2:
        found.append(positional[1].value)
    return found


def _names_in(expression: cst.BaseExpression) -> set[str]:
    if isinstance(expression, cst.Name):
        return {expression.value}
    names: set[str] = set()
    if isinstance(expression, (cst.List, cst.Tuple, cst.Set)):
        for element in expression.elements:
            names |= _names_in(element.value)
    elif isinstance(expression, cst.Dict):
        for element in expression.elements:
            if isinstance(element, cst.DictElement):
                names |= _names_in(element.value)
    elif isinstance(expression, cst.Call):
        parts = dotted_parts(expression.func)
        if parts and len(parts) == 1:
            names.add(parts[0])
        for arg in expression.args:
            names |= _names_in(arg.value)
    return names


# calls whose result is a boolean mask
_MASK_CALLS = frozenset({"logical_and", "logical_or", "logical_not", "logical_xor", "equal", "not_equal", "greater",
                         "greater_equal", "less", "less_equal", "eq", "ne", "gt", "ge", "lt", "le", "isclose",
                         "isnan", "isinf", "isfinite"})
# calls whose value is a step of their input whatever it is (a rounded sigmoid is a 0/1 mask)
_STEP_CALLS = frozenset({"round", "rint", "sign", "argmax", "argmin"})
# calls that keep a mask a mask (a cast, a reshape, the indices of its ones, its count)
_MASK_KEEPING_CALLS = frozenset({"float", "long", "int", "bool", "double", "half", "byte", "to", "type", "type_as",
                                 "cast", "astype", "nonzero", "argwhere", "where", "count_nonzero", "sum", "mean",
                                 "any", "all", "squeeze", "unsqueeze", "expand_dims", "view", "reshape", "expand",
                                 "expand_as", "repeat", "detach", "flatten", "clone", "logical_not"})
# boolean tensors a mask maker fills in place (``m = zeros_like(pred, dtype=torch.bool); m[idx] = True``)
_MASK_CONSTRUCTORS = frozenset({"ones_like", "zeros_like", "ones", "zeros", "full_like"})


def _returns_a_mask(function: cst.FunctionDef) -> bool:
    """Every ``return`` hands back a boolean mask (a comparison, ``logical_or(...)``, ``a & b``,
    ``~m``; the first element of a returned tuple; a name bound to one): a mask maker such as
    ``calculate_corridor_mask(preds, labels)``, not ``mse_mask(y_true, y_pred)``, which returns a
    loss computed under a mask."""
    assigned = _assigned_values(function)

    def is_mask(value, depth=0) -> bool:
        if isinstance(value, cst.Tuple) and value.elements:
            return is_mask(value.elements[0].value, depth)
        if isinstance(value, cst.Comparison):
            return True
        if isinstance(value, cst.UnaryOperation):
            return isinstance(value.operator, (cst.BitInvert, cst.Not)) and is_mask(value.expression, depth)
        if isinstance(value, cst.BinaryOperation):
            # m1 & m2, m1.float() * m2.float(), m.sum() / n.sum(): masks and numbers only
            sides = (value.left, value.right)
            return any(is_mask(side, depth) for side in sides) and all(
                is_mask(side, depth) or isinstance(side, (cst.Integer, cst.Float)) for side in sides)
        if isinstance(value, cst.Subscript):
            return is_mask(value.value, depth)  # m[:, 0]
        if isinstance(value, cst.Call):
            name = terminal_name(value.func)
            if name in _MASK_CALLS or name in _STEP_CALLS:
                return True
            if name in _MASK_CONSTRUCTORS:  # m = zeros_like(pred, dtype=torch.bool); m[idx] = True
                return depth > 0 and any(arg.keyword is not None and arg.keyword.value == "dtype"
                                         and "bool" in cst.Module([]).code_for_node(arg.value) for arg in value.args)
            if name == "where" and len(value.args) == 3:
                return is_mask(value.args[1].value, depth) and is_mask(value.args[2].value, depth)
            if name in _MASK_KEEPING_CALLS:
                receiver = value.func.value if isinstance(value.func, cst.Attribute) else None
                if receiver is not None and not (isinstance(receiver, cst.Name) and receiver.value in ARRAY_MODULES):
                    return is_mask(receiver, depth)
                return bool(value.args) and is_mask(value.args[0].value, depth)
            return False
        if isinstance(value, cst.Name) and depth < 3:
            values = assigned.get(value.value)
            return bool(values) and all(v is not None and is_mask(v, depth + 1) for v in values)
        return False

    returns = [node.value for node in own_nodes(function) if isinstance(node, cst.Return) and node.value is not None]
    return bool(returns) and all(is_mask(value) for value in returns)


def _returned_names_and_lambdas(node: cst.FunctionDef) -> dict[str, list]:
    result: dict[str, list] = {"names": [], "lambdas": []}

    class _Returns(cst.CSTVisitor):
        def visit_FunctionDef(self, inner: cst.FunctionDef) -> bool:
            return inner is node

        def visit_Return(self, statement: cst.Return) -> None:
            value = statement.value
            if isinstance(value, cst.Tuple) and value.elements:
                value = value.elements[0].value  # return vae_loss, beta_callback: the loss comes first
            if isinstance(value, cst.Name):
                result["names"].append(value.value)
            elif isinstance(value, cst.Lambda):
                result["lambdas"].append(value)

    node.visit(_Returns())
    return result


def _is_setup_method(name: str) -> bool:
    """``build``/``__init__``/config methods run once, outside the per-step loss computation."""
    if name in ("__init__", "build", "get_config", "from_config") or name.endswith("_once"):
        return True  # create_dual_variables_once: run on the first call only (``@snt.once``)
    # ``build_targets(preds, targets)``/``_build_mask(...)``: the step's targets, built on every call
    return name.startswith(("_build", "build_")) and not _PER_STEP_BUILD.search(name)


_PER_STEP_BUILD = compile_lazily(r"target|label|mask|gt|ground_?truth|assign|match", re.IGNORECASE)


def _walk_names_and_self_attributes(root: cst.CSTNode):
    """Names read in ``root`` (calls and arguments) and ``self.<attr>`` accesses, nested defs excluded."""
    stack = [root.body] if isinstance(root, (cst.FunctionDef, cst.Lambda)) else [root]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            continue
        training = training_test(node.test) if isinstance(node, cst.If) else None
        if training is not None:
            # ``if not self.training: detections = postprocess(...)``: evaluation only, no helper
            # of the loss is called there
            stack.append(node.test)
            stack.extend([node.body] if training else [node.orelse] if node.orelse is not None else [])
            continue
        if isinstance(node, cst.Arg):
            stack.append(node.value)  # apply(x, train=False): a keyword's name is no function read
            continue
        if isinstance(node, cst.Name):
            yield node
            continue
        if isinstance(node, cst.Attribute):
            if isinstance(node.value, cst.Name) and node.value.value in ("self", "cls"):
                yield node
                continue
            if isinstance(node.value, cst.Name) and node.value.value[:1].isupper():
                yield node  # MyLoss._pairwise(x): a method called through its class
            stack.append(node.value)  # the attribute name itself is not a variable
            continue
        stack.extend(tree_children(node))


_STEP_METHODS = frozenset({"apply_gradients", "minimize"})


def _takes_optimizer_step(function) -> bool:
    """``optimizer.apply_gradients(...)``, ``opt.minimize(...)``, ``self.optimizer.step()`` in the body."""
    for node in own_nodes(function):
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            method = node.func.attr.value
            receiver = (dotted_parts(node.func.value) or [""])[-1].lower()
            if method in _STEP_METHODS or (method == "step" and "opt" in receiver):
                return True
    return False


def _return_kinds(info: FunctionInfo) -> set[str]:
    """What the function's ``return`` statements hand back: tensor, dict, python, host (``x.item()``),
    function, object, none."""
    kinds: set[str] = set()
    nested = {f.name for f in info.nested}
    returned = [current.value for current in own_nodes(info.node) if isinstance(current, cst.Return)]
    assigned = _assigned_values(info.node)
    for value in returned:
        kind = _value_kind(value, nested)
        if kind == "tensor" and _host_number(value, assigned, depth=0):
            kind = "host"  # ``loss = -estimate`` after ``estimate = x.item() / n``
        kinds.add(kind)
    return kinds


def _assigned_values(function) -> dict[str, list]:
    """Name -> the values the function's own statements bind to it (``x = v``, ``x += v``,
    ``x: T = v``); ``None`` for a name bound by unpacking (``a, b = pair``)."""
    assigned: dict[str, list] = {}
    for current in own_nodes(function):
        if isinstance(current, cst.Assign):
            for target in current.targets:
                if isinstance(target.target, cst.Name):
                    assigned.setdefault(target.target.value, []).append(current.value)
                elif isinstance(target.target, (cst.Tuple, cst.List)):
                    for element in target.target.elements:  # unpacked: not a value we can read
                        if isinstance(element.value, cst.Name):
                            assigned.setdefault(element.value.value, []).append(None)
        elif isinstance(current, (cst.AugAssign, cst.AnnAssign)) and isinstance(current.target, cst.Name):
            assigned.setdefault(current.target.value, []).append(current.value)
    return assigned


# layers and networks a model builds (a loss wrapper builds criteria, parameters, a cosine)
_NETWORK_PART = compile_lazily(r"linear|conv|lstm|gru|rnn|embedding|sequential|module(list|dict)|encoder|decoder|block"
                               r"|layer|net|model|attention|transformer|norm|dropout|pool|head|pretrained|resnet|vgg|vit_"
                               r"|bert", re.IGNORECASE)


# classes named for a network (not for a loss): a discriminator, a generator, an encoder
_NETWORK_CLASS = compile_lazily(r"(discriminator|generator|encoder|decoder|backbone)s?$", re.IGNORECASE)


def _network_forward(info: FunctionInfo) -> bool:
    """``forward``/``call`` of a class named for a network (``MultiPeriodDiscriminator``) that builds
    layers or sub-networks in ``__init__``: the network's forward pass, whatever its parameters
    are called (``forward(self, y, y_hat)`` runs the discriminator on real and generated audio)."""
    owner = info.class_info
    if owner is None or info.name not in LOSS_CLASS_METHODS or _CRITERION_CLASS.search(owner.name) \
            or not _NETWORK_CLASS.search(owner.name):
        return False
    return any(_NETWORK_PART.search(name) for _attr, name, _call in owner._init_constructions())


def _annotated_none(function) -> bool:
    """``def f(...) -> None``: says it returns nothing (a hook, whatever it stores on the object)."""
    return function.returns is not None and _is_none(function.returns.annotation)


def _keeps_or_yields(function) -> bool:
    """The function yields its values or stores them on the object (``self.loss = ...``, TF1's
    graph-building losses): it hands them back another way than ``return``."""
    for node in own_nodes(function):
        if isinstance(node, (cst.Yield, cst.Await)):
            return True
        if isinstance(node, (cst.Assign, cst.AugAssign, cst.AnnAssign)):
            targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            for target in targets:
                while isinstance(target, cst.Subscript):
                    target = target.value  # self.losses["ce"] = ...
                if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) \
                        and target.value.value == "self":
                    return True
    return False


def _a_perceptual_comparison(info: FunctionInfo) -> bool:
    """``class VGGPerceptual(nn.Module): def forward(self, fake, real)``: a class named for a
    perceptual comparison whose ``__init__`` builds a pretrained network and whose forward takes
    two inputs is a perceptual loss (not ``PerceptualDiscriminator``, which builds its own layers).

        >>> import libcst as cst
        >>> from keras_bsguard.lint.module_index import ModuleIndex
        >>> index = ModuleIndex.build(cst.parse_module(
        ...     "class VGGPerceptual:\\n    def __init__(self):\\n        self.vgg = vgg19(pretrained=True)\\n"
        ...     "    def forward(self, fake, real):\\n        return fake\\n"
        ...     "class PerceptualDiscriminator:\\n    def __init__(self):\\n        self.conv = Conv2d(3, 8, 3)\\n"
        ...     "    def forward(self, x, y):\\n        return x\\n"))
        >>> [(f.class_info.name, f.name) for f in index.functions if _a_perceptual_comparison(f)]
        [('VGGPerceptual', 'forward')]
    """
    tokens = name_words(info.class_info.name) if info.class_info is not None else []
    if "perceptual" not in tokens or info.name not in ("forward", "__call__", "call") \
            or len(_positional_names(info, required=True)) < 2 or decorated_no_grad(info.node):
        return False  # (a no_grad __call__ that keeps running totals is an evaluation)
    # the evidence: __init__ builds the pretrained network it compares features in
    return info.class_info.builds_a_pretrained_network()


def _returns_own_criterion(info: FunctionInfo) -> bool:
    """``forward`` of a module that built a loss criterion in ``__init__`` (``self.kl =
    nn.KLDivLoss(reduction="sum")``) and returns what that criterion computes, and nothing else: a
    loss, whatever the class is called."""
    criteria = info.class_info.criteria()
    if not criteria or _return_kinds(info) != {"tensor"} or any(
            _NETWORK_PART.search(name) for attr, name, _call in info.class_info._init_constructions()
            if attr not in criteria):
        return False  # a model that also builds its criterion (Tacotron2's encoder, decoder, loss)
    returned = [node.value for node in own_nodes(info.node) if isinstance(node, cst.Return) and node.value is not None]
    assigned = _assigned_values(info.node)

    def calls_criterion(value, depth=0) -> bool:
        for inner in [value, *own_nodes(value)]:
            if isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute) \
                    and isinstance(inner.func.value, cst.Name) and inner.func.value.value == "self" \
                    and inner.func.attr.value in criteria:
                return True
            if isinstance(inner, cst.Name) and depth < 3 and any(
                    calls_criterion(v, depth + 1) for v in assigned.get(inner.value, ()) if v is not None):
                return True  # res = self.loss(...); res /= n; return res
        return False

    if not returned or any(isinstance(value, (cst.Tuple, cst.List, cst.Dict)) for value in returned):
        return False  # ``return loss, stats, weight``: a model's forward, or several values to pick from
    return all(calls_criterion(value) for value in returned)


def _indexes_by_position(function, name: str) -> bool:
    """``name[0]``, ``name[:n]``, ``name[n:]``, or ``(a, b, c) = name`` in the function's body: a
    sequence (argparse's namespace is neither indexed nor unpacked)."""
    for current in own_nodes(function):
        if isinstance(current, cst.Assign) and isinstance(current.value, cst.Name) and current.value.value == name \
                and any(isinstance(t.target, (cst.Tuple, cst.List)) and len(t.target.elements) >= 2
                        for t in current.targets):
            return True
        if isinstance(current, cst.Subscript) and isinstance(current.value, cst.Name) \
                and current.value.value == name and current.slice:
            index = current.slice[0].slice
            if isinstance(index, cst.Slice) or (isinstance(index, cst.Index) and isinstance(
                    index.value, (cst.Integer, cst.Name, cst.UnaryOperation, cst.BinaryOperation))):
                return True
    return False


def _calls_backward(function) -> bool:
    """``loss.backward()`` in the function's own body."""
    return any(isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "backward"
               for node in own_nodes(function))


def _returns_numpy_counts(function, imports) -> bool:
    """Every ``return`` hands back a tuple of two or more values, each computed by numpy
    (``return val, far`` with ``val = true_accept / n_same`` and ``true_accept = np.sum(...)``):
    figures for a report, never the one tensor a loss returns (Keras's parameter names or not)."""
    returned = [node.value for node in own_nodes(function) if isinstance(node, cst.Return)]
    if not returned or not all(isinstance(v, cst.Tuple) and len(v.elements) >= 2 for v in returned):
        return False
    assigned = _assigned_values(function)

    def numpy_made(node, depth: int) -> bool:
        if depth > 4:
            return False
        if isinstance(node, cst.Name):
            values = assigned.get(node.value)
            return bool(values) and all(numpy_made(v, depth + 1) for v in values)
        if isinstance(node, cst.BinaryOperation):
            return all(numpy_made(side, depth + 1) or _plain_scalar(side) for side in (node.left, node.right)) \
                and (numpy_made(node.left, depth + 1) or numpy_made(node.right, depth + 1))
        if isinstance(node, cst.Call):
            parts = dotted_parts(node.func)
            qualified = imports.qualify(parts) if parts else None
            return qualified is not None and qualified.split(".")[0] == "numpy"
        return False

    return all(numpy_made(e.value, 0) for v in returned for e in v.elements)


def _returns_threshold_rates(function) -> bool:
    """Every ``return`` hands back three or more values, two or more of them shares of entries
    under (or over) a number (``a1 = (thresh < 1.25).float().mean()``) and none named for a loss:
    the evaluation table of a regression (depth estimation's ``compute_errors``: ``abs_rel, rmse,
    a1, a2, a3``), never the one value a loss returns (a loss that also returns an accuracy names
    its loss).

        >>> f = cst.parse_module("def errors(gt, pred):\\n    rmse = ((gt - pred) ** 2).mean()\\n"
        ...                      "    a1 = (gt / pred < 1.25).float().mean()\\n    a2 = (gt / pred < 1.5).float().mean()\\n"
        ...                      "    return rmse, a1, a2\\n").body[0]
        >>> _returns_threshold_rates(f)
        True
    """
    assigned = _assigned_values(function)
    returned = [(node.value, _returned_figures(node.value, assigned))
                for node in own_nodes(function) if isinstance(node, cst.Return)]
    if not returned or not all(figures is not None and len(figures) >= 3 for _, figures in returned):
        return False

    def rate(element) -> bool:
        element = _undivided(element)
        values = assigned.get(element.value) if isinstance(element, cst.Name) else [element]
        if values and len(values) > 1:  # d1 = 0 (or a, d1 = 0, 0), then d1 += rate once per image
            values = [_added_term(v, element) for v in values
                      if v is not None and not isinstance(v, (cst.Integer, cst.Float))]
        return bool(values) and len(values) == 1 and _threshold_rate(values[0])

    def loss_named(element) -> bool:
        element = _undivided(element)
        return isinstance(element, cst.Name) and _says_loss(element.value)

    # a tuple of two or more rates beside other figures; a list (which a loss returns as its terms
    # too) only with the three thresholds of an evaluation table (d1, d2, d3)
    return all(sum(rate(e) for e in figures) >= (2 if isinstance(value, cst.Tuple) else 3)
               and not any(loss_named(e) for e in figures) for value, figures in returned)


def _undivided(element):
    """``a1`` of ``a1 / n``: a figure averaged over the images it was added up for; else itself."""
    if isinstance(element, cst.BinaryOperation) and isinstance(element.operator, cst.Divide):
        return element.left
    return element


def _added_term(value, name):
    """``a1 + rate`` of ``a1 = a1 + rate``: the term added to the name; else the value."""
    if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.Add) \
            and isinstance(name, cst.Name) and isinstance(value.left, cst.Name) and value.left.value == name.value:
        return value.right
    return value


def _returned_figures(value, assigned: dict) -> list | None:
    """The figures a ``return`` hands back: the elements of a tuple or list, or of the literal list
    a comprehension runs over (``[m / n for m in [abs_rel, d1, d2, d3]]``, also through a name
    bound once to it); else None."""
    if isinstance(value, (cst.Tuple, cst.List)):
        return [element.value for element in value.elements]
    if isinstance(value, (cst.ListComp, cst.GeneratorExp)) and value.for_in.inner_for_in is None:
        iterated = value.for_in.iter
        if isinstance(iterated, cst.Name) and len(assigned.get(iterated.value) or ()) == 1:
            iterated = assigned[iterated.value][0]  # figures = [abs_rel, d1, d2, d3]
        if isinstance(iterated, (cst.List, cst.Tuple)):
            return [element.value for element in iterated.elements]
    return None


def _threshold_rate(node) -> bool:
    """``(x < 1.25).float().mean()``, ``tf.reduce_mean(tf.cast(x > 0.5, tf.float32))``,
    ``np.mean(x < 1.25)``: the share of entries past a number written out."""
    if not isinstance(node, cst.Call) or called_name(node) not in ("mean", "reduce_mean"):
        return False
    inner = node.func.value if isinstance(node.func, cst.Attribute) and not node.args else \
        (node.args[0].value if node.args else None)
    while isinstance(inner, cst.Call):  # .float(), .double(), .type(...), tf.cast(c, ...), K.cast(c, ...)
        name = called_name(inner)
        if name in ("float", "double", "half", "type", "to") and isinstance(inner.func, cst.Attribute):
            inner = inner.func.value
        elif name == "cast" and inner.args:
            inner = inner.args[0].value
        else:
            return False
    return isinstance(inner, cst.Comparison) and len(inner.comparisons) == 1 and isinstance(
        inner.comparisons[0].operator, (cst.LessThan, cst.GreaterThan, cst.LessThanEqual, cst.GreaterThanEqual)) \
        and _numeric_expression(inner.comparisons[0].comparator)


def _numeric_expression(node) -> bool:
    """``1.25``, ``1.25 ** 2``, ``-3``: a number written out."""
    if isinstance(node, (cst.Integer, cst.Float)):
        return True
    if isinstance(node, cst.UnaryOperation):
        return _numeric_expression(node.expression)
    return isinstance(node, cst.BinaryOperation) and _numeric_expression(node.left) and _numeric_expression(node.right)


def _host_number(value, assigned: dict[str, list], depth: int) -> bool:
    """A Python number made from ``.item()``/``float()``: every assignment of a returned name, and
    arithmetic of such numbers with literals and attributes (``x.item() / (1.0 - self.alpha)``)."""
    if value is None or depth > 4:
        return False
    if isinstance(value, cst.Name):
        values = assigned.get(value.value)
        # ``elbo = 0.0`` then ``elbo += x.item() / n``: literals start it, host numbers fill it
        return bool(values) and all(_host_number(v, assigned, depth + 1) or _plain_scalar(v) for v in values) \
            and any(_host_number(v, assigned, depth + 1) for v in values)
    if isinstance(value, cst.UnaryOperation):
        return _host_number(value.expression, assigned, depth + 1)
    if isinstance(value, cst.BinaryOperation):
        sides = (value.left, value.right)
        return any(_host_number(side, assigned, depth + 1) for side in sides) and all(
            _host_number(side, assigned, depth + 1) or _plain_scalar(side) for side in sides)
    return _value_kind(value, set()) == "host"


def _plain_scalar(node) -> bool:
    """A number literal, an attribute (``self.alpha``) or a parenthesised sum of them."""
    if isinstance(node, (cst.Integer, cst.Float, cst.Attribute)):
        return True
    if isinstance(node, cst.UnaryOperation):
        return _plain_scalar(node.expression)
    if isinstance(node, cst.BinaryOperation):
        return _plain_scalar(node.left) and _plain_scalar(node.right)
    return False


def _value_kind(value, nested: set[str]) -> str:
    if value is None or (isinstance(value, cst.Name) and value.value == "None"):
        return "none"
    if isinstance(value, (cst.Dict, cst.DictComp)):
        return "dict"
    if isinstance(value, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
        return "python"
    if isinstance(value, cst.Name) and value.value in ("True", "False"):
        return "python"
    if isinstance(value, cst.Lambda) or (isinstance(value, cst.Name) and value.value in nested):
        return "function"
    if isinstance(value, cst.Tuple) and value.elements and (
            isinstance(value.elements[0].value, cst.Lambda)
            or (isinstance(value.elements[0].value, cst.Name) and value.elements[0].value.value in nested)):
        return "function"  # return vae_loss, beta_callback: the loss it built, with what drives it
    if isinstance(value, cst.Call):
        parts = dotted_parts(value.func)
        if parts and parts[-1] == "dict":
            return "dict"
        method = value.func.attr.value if isinstance(value.func, cst.Attribute) else None
        if parts in (["float"], ["int"]) or method in ("item", "tolist") or (parts and parts[-1].endswith("_item")):
            return "host"  # loss.item(): a number for the caller, not a value to differentiate
        if parts and parts[-1][:1].isupper() and parts[-1] not in ("Tensor", "LongTensor", "FloatTensor", "Variable"):
            return "object"  # SomeLoss(...): a factory hands back a loss object
    return "tensor"

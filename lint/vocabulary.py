"""Parameter names that mark a loss signature (shared by the prefilter and the loss finder).

Names are compared normalised: lower case, underscores removed (``y_true`` -> ``ytrue``).

    >>> normalise("y_Pred") in PRED_NAMES
    True
"""

import re
from .lazy_re import compile_lazily

TARGET_NAMES = frozenset(
    {"ytrue", "y", "label", "labels", "target", "targets", "ytarget", "true", "gt", "gts", "groundtruth",
     "ygt", "truth", "actual", "yactual", "yt", "ylabel", "ylabels", "truelabels", "trues",
     "ytrues", "reference", "ref", "expected", "yexpected", "gold", "ygold", "lbl", "lbls",
     # the clean signal a denoiser or speech enhancer is trained to recover
     "clean", "cleanwav", "cleanspeech", "cleanaudio", "cleanimg", "cleanimage",
     # the image a registration network warps the moving image onto
     "fixed", "fixedimage", "fixedimg"}
)
PRED_NAMES = frozenset(
    {"ypred", "yhat", "pred", "preds", "prediction", "predictions", "logits", "logit", "output",
     "outputs", "yprob", "yprobs", "probs", "probabilities", "yscore", "yscores", "scores",
     "ypreds", "yp", "predicted", "ypredicted", "ylogits", "predlogits", "out", "ypredlogits",
     "estimate", "yest", "recon", "reconstruction", "xhat", "xrecon",
     "enhanced", "enhancedwav", "denoised", "forecast", "forecasts", "yforecast"}
)

# Names a torch criterion gives its prediction (``forward(self, input, target)``): a loss pair only
# in the call of a callable object, where the class says what the function is (the prefilter does
# not read them: a file whose only loss-like text is such a forward is a layer or a transform).
ROLE_PRED_NAMES = frozenset({"input", "inputs", "features", "embeddings", "embedding", "z", "emb", "zi", "zj",
                             "anchor", "h", "x"})


def normalise(name: str) -> str:
    return name.lower().replace("_", "")


def is_loss_pair(first: str, second: str) -> bool:
    a, b = normalise(first), normalise(second)
    return (a in TARGET_NAMES and b in PRED_NAMES) or (a in PRED_NAMES and b in TARGET_NAMES)


def is_role_target_pair(first: str, second: str) -> bool:
    """``(input, target)`` in either order: torch's criterion convention for ``forward``."""
    a, b = normalise(first), normalise(second)
    roles = PRED_NAMES | ROLE_PRED_NAMES
    return (a in roles and b in TARGET_NAMES) or (a in TARGET_NAMES and b in roles)


# Margin-softmax heads of face and speaker recognition (ArcFace, CosFace, AM/AAM-softmax): modules
# whose forward takes the embeddings and the labels and exists only to train (its logits feed a
# cross-entropy); they are loss code whatever their module is called.
MARGIN_HEAD_WORDS = (rb"(?:(?i:arc_?face|arc_?margin|cos_?face|sphere_?face|add_?margin|additive_?margin|a+m_?softmax"
                     rb"|margin_?product|curricular_?face|ada_?face|mag_?face|elastic_?face|large_?margin)"
                     rb"|(?<![a-z])[AL]_?Softmax)")  # SphereFace's A-Softmax, L-Softmax (not DataSoftmax)
MARGIN_HEAD = compile_lazily(MARGIN_HEAD_WORDS.decode())


def split_camel(name: str) -> str:
    """``BCELoss`` -> ``BCE_Loss``, ``supconLoss`` -> ``supcon_Loss``; the acronym IoU is one word
    (``mIoU`` -> ``m_Iou``, ``GIoULoss`` -> ``Giou_Loss``).

        >>> split_camel("mIoU"), split_camel("GIoULoss")
        ('m_Iou', 'Giou_Loss')
    """
    name = re.sub(r"(?<![A-Z])([GDCE]?)IoU", lambda m: m.group(1) + "iou" if m.group(1) else "Iou", name)
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", spaced)


def name_words(name: str) -> list[str]:
    """The lower-case words of a name, in order: ``_bboxDecode`` -> ``['bbox', 'decode']``.

        >>> name_words("_bboxDecode"), name_words("cious")
        (['bbox', 'decode'], ['cious'])
    """
    return [word.lower() for word in re.split(r"[_\W]+", split_camel(name)) if word]


def name_tokens(name: str) -> set[str]:
    """The set of a name's words (see :func:`name_words`)."""
    return set(name_words(name))


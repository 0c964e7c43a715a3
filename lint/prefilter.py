"""A cheap text test run before libcst: files with nothing loss-like are never parsed by libcst
(they are still compiled once to report BSG000 when they do not parse; see ``api.parse_problem``).

It must never say no to a file that has a loss (false positives only cost a parse):

    >>> may_contain_loss(b"def mse(y_true, y_pred):\\n    return 0\\n")
    True
    >>> may_contain_loss(b"def load(path):\\n    return open(path).read()\\n")
    False
    >>> may_contain_loss(b"def WGANGPGradientPenalty(real, fake, critic):\\n    return 0\\n")
    True
    >>> may_contain_loss(b"class normal_crit(nn.Module):\\n    def forward(self, input, target):\\n        return 0\\n",
    ...                  filename="models/criterion/normal.py")
    True
    >>> may_contain_loss(b"for x, y in loader:\\n    loss = crit(net(x), y)\\n    loss.backward()\\n")
    True
    >>> may_contain_loss(b"def kld(self, mu, logvar):\\n    return 0\\n")
    True
    >>> may_contain_loss(b"class NegativeLogLikelihood(nn.Module):\\n    def forward(self, risk, y, e):\\n        return 0\\n")
    True
    >>> may_contain_loss(b"def negative_log_cox_partial_likelihood(w, X, riskset):\\n    return 0\\n")
    True
    >>> may_contain_loss(b"def euclidean_distance(vects):\\n    x, y = vects\\n    return x - y\\n")
    True
    >>> may_contain_loss(b"def ssim(a, b):\\n    return a\\nloss = ssim(x, y)\\n")
    True
    >>> may_contain_loss(b"loss_fn = DetectionLoss(config)\\n")
    False
    >>> may_contain_loss(b"def ms_mse(sharp, predicted):\\n    return 0\\n", filename="utils/custom_losses.py")
    True
    >>> may_contain_loss(b"class L_spa(nn.Module):\\n    def forward(self, org, enhance):\\n        return 0\\n",
    ...                  filename="models/enhance.py")
    True
    >>> may_contain_loss(b"def L_color(x):\\n    return x\\n", filename="src/enhance.py")
    True
    >>> may_contain_loss(b"class ArcMarginProduct(nn.Module):\\n    def forward(self, x, label):\\n        return x\\n",
    ...                  filename="models/heads.py")
    True
"""

from __future__ import annotations

import fnmatch

from .vocabulary import MARGIN_HEAD_WORDS, is_loss_pair, is_role_target_pair
from .lazy_re import compile_lazily

_SIGNATURE = compile_lazily(
    rb"def\s+\w+\s*(?:\[[^\]]*\]\s*)?\(\s*(?:(?:self|cls)\s*,\s*)?(\w+)\s*(?::[^,()]*(?:\([^()]*\))?[^,()]*)?"
    rb"(?:=[^,()]*)?,\s*(\w+)"  # def loss[T](...): PEP 695 type parameters too
)
_MARKERS = compile_lazily(
    rb"compute_loss|\.compile\s*\(|class\s+\w+\s*\([^)]*Loss|class\s+\w*(?:[Ll]oss|Criterion)\w*\s*[(:]"
    rb"|def\s+\w*[Ll]oss\w*\s*[(\[]"
    # the other names discovery reads as losses (losses._named_like_a_loss): gradient_penalty, ...
    rb"|def\s+\w*(?i:criterion|penalty|nt_?xent|info_?nce|sup_?con|cross_?entropy)\w*\s*[(\[]"
    rb"|class\s+\w*(?i:nt_?xent|info_?nce|sup_?con)\w*\s*[(:]"  # class NT_Xent(nn.Module)
    rb"|class\s+\w*NLL\s*[(:]|def\s+\w*(?i:nll|nce)\s*[(\[]"  # class GaussianNLL, def gaussian_nll, rmseNCE
    rb"|(?:class|def)\s+\w*(?i:neg)\w*(?i:log)\w*(?i:likelihood|lik)\w*\s*[(\[:]"  # NegativeLogLikelihood,
    # negative_log_cox_partial_likelihood
    rb"|def\s+\w*(?i:dist|euclid)\w*\s*\(\s*\w+\s*\)\s*:"  # a siamese distance: def euclidean_distance(vects)
    # def kld(self, mu, logvar), def total_correlation(z, z_mean, z_logvar): a VAE's KL or TC term
    rb"|def\s+\w*(?i:kl|elbo|divergence|total_?correlation)\w*\s*\([^)]*(?i:mu|mean|loc)"
    rb"|class\s+\w*(?i:kl|elbo|total_?correlation)\w*\s*[(:]"  # class KLD(nn.Module): forward(self, mu, logvar)
    rb"|class\s+\w*" + MARGIN_HEAD_WORDS + rb"\w*\s*[(:]"  # class ArcMarginProduct(nn.Module): forward(x, label)
    # a criterion named by the loss's short name (losses._names_a_criterion): class FocalBCE, WeightedMSE
    rb"|class\s+\w*(?:BCE|Bce|CE|Ce|MSE|Mse|NLL|Nll|KLD|Kld|Xent|XEnt|Focal|Huber|Tversky|Lovasz)\s*[(:]"
    rb"|class\s+\w*_(?i:bce|ce|mse|nll|kld|xent|focal|huber|tversky|lovasz)\s*[(:]"
    rb"|(?:class|def)\s+L_[A-Za-z]\w*\s*[(:]"  # Zero-DCE's L_spa, image fusion's L_Grad (losses._LOSS_PREFIXED_CLASS)
    # a module that builds a criterion and returns what it computes (losses._returns_own_criterion)
    rb"|self\.\w+\s*=\s*(?:\w+\.)*\w*Loss\s*\("
    # a training loop or train step with its loss inline (train_steps.per_step_region)
    rb"|\.backward\s*\(|\.gradient\s*\("
)
_DEF_NAME = compile_lazily(rb"def\s+(\w+)")
# ``loss = ssim(image, output)``: a function of the file whose result is stored as a loss
_LOSS_CALL = compile_lazily(rb"(?i:loss)\w*\s*\+?=\s*(\w+)\s*\(")
# ``def forward(self, input, target)``: torch's criterion convention, a loss whatever its class is named
_LOSS_PATH = compile_lazily(r"loss|crit|objective")
_FORWARD = compile_lazily(rb"def\s+forward\s*\(\s*self\s*,\s*(\w+)[^,()]*,\s*(\w+)")
# ``def ms_mse(sharp, predicted_pyramid)`` in a losses module: a public function taking a prediction
# ``class SoftDTW(torch.autograd.Function)`` in a losses module: its forward and backward are linted
_AUTOGRAD_FUNCTION = compile_lazily(rb"class\s+\w+\s*\(\s*(?:torch\.)?(?:autograd\.)?Function\s*\)")
# ``def __call__(self, clean, enhanced)``: a class of a losses module called on two inputs
_TWO_INPUT_CALL = compile_lazily(rb"def\s+(?:forward|__call__|call)\s*\(\s*self\s*,\s*\w+[^,()]*,\s*\w+")
# ``def CORAL(source, target)``, ``def mmd(src_feats, tgt_feats)``: a domain-adaptation loss
_TWO_DOMAINS = compile_lazily(rb"def\s+\w+\s*\(\s*(?:self\s*,\s*)?\w*(?:source|src)\w*\s*,\s*\w*(?:target|tgt)\w*")
_TAKES_A_PREDICTION = compile_lazily(rb"def\s+[A-Za-z]\w*\s*\([^)]*(?i:pred|logits|output|yhat)")


def may_contain_loss(data: bytes, loss_patterns: tuple[str, ...] = (), filename: str | None = None) -> bool:
    """Whether the bytes may hold a loss (then they are parsed); never False for a real loss.

    A class of any name with torch's criterion ``forward(self, input, target)`` counts in a module
    whose path says loss or criterion (``models/criterion/normal_cos.py``): elsewhere such a
    forward is as often a layer or a data transform (``transforms/mixup.py``)."""
    if _MARKERS.search(data):
        return True
    for first, second in _SIGNATURE.findall(data):
        if is_loss_pair(first.decode("ascii", "replace"), second.decode("ascii", "replace")):
            return True
    if filename is not None and _LOSS_PATH.search(filename.lower()):
        if "loss" in filename.lower() and (_TAKES_A_PREDICTION.search(data) or _AUTOGRAD_FUNCTION.search(data)
                                           or _TWO_INPUT_CALL.search(data) or _TWO_DOMAINS.search(data)):
            return True
        for first, second in _FORWARD.findall(data):
            if is_role_target_pair(first.decode("ascii", "replace"), second.decode("ascii", "replace")):
                return True
            if b"loss" in first.lower() and b"loss" in second.lower():
                return True  # forward(self, loss0, loss1): task losses weighted into the trained one
    called = set(_LOSS_CALL.findall(data))
    if called and called & set(_DEF_NAME.findall(data)):
        return True
    if loss_patterns:
        for name in _DEF_NAME.findall(data):
            text = name.decode("ascii", "replace")
            if any(fnmatch.fnmatchcase(text, pattern) for pattern in loss_patterns):
                return True
    return False

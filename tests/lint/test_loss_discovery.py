"""Which functions count as losses: nothing outside a loss is ever reported."""

from __future__ import annotations

import textwrap

from keras_bsguard.lint import LintSettings, lint_source

HOST_SYNC = "    return y_pred.numpy()\n"


def _lint(source: str, **settings) -> list:
    return lint_source(textwrap.dedent(source), "m.py", LintSettings(**settings) if settings else None)


def _losses(source: str, **settings) -> set[str]:
    return {f.loss for f in _lint(source, **settings)}


def test_signature_pairs_in_either_order_are_losses():
    source = """
    def a(y_true, y_pred):
        return y_pred.numpy()
    def b(labels, logits):
        return logits.numpy()
    def c(pred, target):
        return pred.numpy()
    def d(y, y_hat):
        return y_hat.numpy()
    """
    assert _losses(source) == {"a", "b", "c", "d"}


def test_data_prep_and_module_level_code_are_never_reported():
    source = """
    import numpy as np
    import tensorflow as tf
    NOISE = np.random.normal(size=3)
    def preprocess(image, label):
        image = image + np.random.normal(size=image.shape)
        if tf.reduce_max(image) > 1.0:
            image = image / 255.0
        return image.numpy(), label
    def schedule(epoch, lr):
        return float(lr * tf.exp(-0.1))
    for row in NOISE:
        print(row)
    """
    assert _lint(source) == []


def test_compile_argument_dict_list_lambda_and_factory_are_losses():
    source = """
    import tensorflow as tf
    def first(a, b):
        return b.numpy()
    def second(a, b):
        return b.numpy()
    def third(a, b):
        return b.numpy()
    def make_loss(scale):
        def inner(t, p):
            return p.numpy() * scale
        return inner
    model.compile(loss={"out": first, "aux": "mse"})
    model.compile(optimizer="adam", loss=[second])
    model.compile("adam", third)
    model.compile(loss=make_loss(2.0))
    model.compile(loss=lambda t, p: p.numpy())
    """
    assert _losses(source) == {"first", "second", "third", "inner", "<lambda>"}


def test_compile_through_a_variable_and_partial():
    source = """
    import functools
    def weighted(a, b, w):
        return b.numpy()
    def plain(a, b):
        return b.numpy()
    loss_fn = plain
    model.compile(loss=functools.partial(weighted, w=2))
    other.compile(loss=loss_fn)
    """
    assert _losses(source) == {"weighted", "plain"}


def test_loss_subclass_call_and_compute_loss_override():
    source = """
    import keras
    from tensorflow.keras.losses import Loss
    class Mine(keras.losses.Loss):
        def call(self, a, b):
            return b.numpy()
    class Derived(Mine):
        def call(self, a, b):
            return b.numpy()
    class TfStyle(Loss):
        def call(self, a, b):
            return b.numpy()
    class Net(keras.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return y_pred.numpy()
        def call(self, inputs, targets=None):
            return inputs.numpy()
    """
    assert _losses(source) == {"Mine.call", "Derived.call", "TfStyle.call", "Net.compute_loss"}


def test_helpers_called_from_a_loss_are_checked_transitively():
    source = """
    import tensorflow as tf
    def _inner(x):
        return tf.math.log(x)
    def _middle(x):
        return _inner(x) * 2.0
    def unrelated(x):
        return tf.math.log(x)
    def loss(y_true, y_pred):
        return _middle(y_pred)
    """
    findings = _lint(source)
    assert [(f.code, f.loss) for f in findings] == [("BSG402", "_inner")]


def test_helper_arguments_carry_facts_from_the_call_site():
    source = """
    import tensorflow as tf
    def _safe_log(x):
        return tf.math.log(x)
    def loss(y_true, y_pred):
        return _safe_log(tf.clip_by_value(y_pred, 1e-7, 1.0))
    """
    assert _lint(source) == []


def test_metric_functions_passed_as_metrics_are_not_losses():
    source = """
    import tensorflow as tf
    def my_metric(y_true, y_pred):
        return tf.cast(tf.round(y_pred) == y_true, tf.float32)
    model.compile(loss="mse", metrics=[my_metric])
    """
    assert _lint(source) == []


def test_metric_class_update_state_is_not_a_loss():
    source = """
    import keras
    class Hits(keras.metrics.Metric):
        def update_state(self, y_true, y_pred, sample_weight=None):
            self.total.assign_add(keras.ops.sum(keras.ops.round(y_pred)))
    """
    assert _lint(source) == []


def test_configured_name_patterns_add_losses():
    source = """
    def objective_fn(a, b):
        return b.numpy()
    """
    assert _lint(source) == []
    assert _losses(source, loss_patterns=("objective_*",)) == {"objective_fn"}


def test_torch_module_forward_is_a_loss():
    source = """
    import torch
    class Criterion(torch.nn.Module):
        def forward(self, output, target):
            return ((output - target) ** 2).sum()
    """
    assert [f.code for f in _lint(source)] == ["BSG501"]


def test_prefilter_passes_every_name_discovery_reads_as_a_loss():
    from keras_bsguard.lint.losses import _named_like_a_loss
    from keras_bsguard.lint.prefilter import may_contain_loss

    names = ["gradient_penalty", "WGANGPGradientPenalty", "focal_loss", "lossFn", "ranking_criterion",
             "ntxent", "infonce_v2", "supcon", "contrastive_loss_with_negatives",
             "info_nce", "NT_Xent", "InfoNCE", "SupCon"]
    for name in names:
        assert _named_like_a_loss(name), name
        # a file holding nothing but this function (parameters that do not look like a loss pair)
        assert may_contain_loss(f"def {name}(a, b, c):\n    return a\n".encode()), name


def test_a_module_holding_only_a_contrastive_loss_class_is_parsed_and_linted():
    from keras_bsguard.lint.prefilter import may_contain_loss

    source = """
    import torch
    class NT_Xent(torch.nn.Module):
        def forward(self, z_i, z_j):
            z = torch.cat([z_i, z_j], dim=0)
            return torch.log_softmax(z @ z.T, dim=1).diag().mean().item()
    """
    assert may_contain_loss(textwrap.dedent(source).encode())
    assert sorted(f.code for f in _lint(source)) == ["BSG601", "BSG701"]


def test_a_module_holding_only_a_criterion_named_by_its_short_name_is_parsed_and_linted():
    # class FocalBCE / WeightedMSE: the loss's short name is the class's last word; forward(y, t)
    # takes the output, then the target
    source = """
    import torch
    class FocalBCE(torch.nn.Module):
        def forward(self, y, t):
            positive = y[t == 1]
            return -((1 - positive) ** 2 * torch.log(positive)).mean()
    """
    assert [(f.loss, f.code, f.row) for f in _lint(source)] == [("FocalBCE.forward", "BSG701", 5),
                                                                ("FocalBCE.forward", "BSG402", 6)]
    # a network block named after what it feeds is no criterion, nor a forward of one input
    head = """
    import torch
    class FocalBCEHead(torch.nn.Module):
        def forward(self, x, t):
            return torch.log(x) * t
    class CE(torch.nn.Module):
        def forward(self, x):
            return torch.log(x)
    """
    assert _lint(head) == []


def test_a_module_that_returns_the_criterion_it_built_is_parsed_and_linted():
    # no name says loss: the class builds a criterion and returns what it computes
    source = """
    import torch
    class OnlineHardMining:
        def __init__(self, margin):
            self.loss = torch.nn.TripletMarginLoss(margin=margin)

        def __call__(self, feats, labels):
            print(feats)
            return self.loss(feats, feats.flip(0), feats.roll(1, 0))
    """
    assert [(f.loss, f.code) for f in _lint(source)] == [("OnlineHardMining.__call__", "BSG701")]


def test_model_selection_and_calibration_modules_are_not_losses():
    source = textwrap.dedent("""
    import torch
    def weighted(y_true, y_pred):
        scale = y_pred.max().item()
        return ((y_pred - y_true) / scale).mean()
    """)
    for path in ("pkg/validators/deep_embedded.py", "pkg/calibration.py", "pkg/evaluators/error.py",
                 "pkg/visualize.py", "pkg/plotting/curves.py"):
        assert lint_source(source, path) == [], path
    assert [f.code for f in lint_source(source, "pkg/losses.py")], "the same code in a loss module is linted"


def test_a_class_named_loss_in_a_calibration_module_is_a_metric():
    # an expected-calibration-error "loss" bins predictions on the host: it scores a model
    source = textwrap.dedent("""
    import torch
    class ECELoss(torch.nn.Module):
        def forward(self, logits, labels):
            confidences = torch.softmax(logits, dim=1).max(dim=1)[0]
            return confidences.mean().item()
    """)
    assert lint_source(source, "pkg/calibration.py") == []
    assert [f.code for f in lint_source(source, "pkg/losses.py")] == ["BSG701"]


def test_losses_in_a_projects_metrics_py_are_linted_but_not_in_a_metrics_package():
    source = textwrap.dedent("""
    import torch
    def dice_loss(targets, inputs):
        for i in range(targets.shape[0]):
            overlap = (targets[i] * inputs[i]).sum()
        return 1 - (2 * (targets * inputs).sum() / (targets.sum() + inputs.sum() + 1.0))
    def hamming_loss(preds, target):
        for i in range(target.shape[0]):
            wrong = (preds[i] != target[i]).sum()
        return (preds != target).float().mean()
    """)
    project = {f.loss for f in lint_source(source, "seg/metrics.py")}
    assert project == {"dice_loss"}  # sklearn's metric names stay metrics
    assert lint_source(source, "torchmetrics/functional/classification.py") == []
    assert lint_source(source, "pkg/metrics/segmentation.py") == []


def test_a_models_forward_with_an_optional_target_is_not_a_loss():
    # A detector's forward(x, target=None) computes its loss through compute_loss when a target
    # is given and post-processes predictions otherwise: the forward is the model, not the loss.
    source = """
    import torch
    from torch import nn
    class Detector(nn.Module):
        def forward(self, x, target=None):
            logits = self.head(x)
            out = {}
            if target is None:
                def _postprocess(prob_map):
                    return [p for p in prob_map.detach().cpu().numpy()]
                out["preds"] = _postprocess(torch.sigmoid(logits))
            else:
                out["loss"] = self.compute_loss(logits, target)
            return out

        def compute_loss(self, logits, target):
            return nn.functional.binary_cross_entropy_with_logits(logits, target)
    """
    assert _losses(source) == set()


def test_a_forward_that_requires_its_target_is_still_a_loss():
    source = """
    import torch
    from torch import nn
    class Pairwise(nn.Module):
        def forward(self, input, target):
            return sum(((input[i] - target[i]) ** 2).mean() for i in range(input.shape[0]))

    class Detector(nn.Module):
        def compute_loss(self, logits, target):
            return nn.functional.binary_cross_entropy_with_logits(logits, target)
    """
    assert _losses(source) == {"Pairwise.forward"}  # (the file's compute_loss lets it be parsed)


def test_a_negative_log_likelihood_class_is_a_loss():
    source = """
    import numpy as np
    import torch
    class GaussianNLL(torch.nn.Module):
        def forward(self, y, mean, var):
            loss = (0.5 * torch.log(var + 1e-6) + 0.5 * (y - mean) ** 2 / (var + 1e-6)).mean()
            if np.any(np.isnan(loss.detach().cpu().numpy())):
                raise ValueError("NaN in loss")
            return loss
    """
    assert [(f.loss, f.code) for f in _lint(source)] == [("GaussianNLL.forward", "BSG701")]


def test_an_evaluation_callback_factory_does_not_make_losses():
    source = """
    def eval_loss_loop(loss_fn, model, dataset):
        total = 0.0
        for batch in dataset:
            total += loss_fn(model, batch).item()
        return total

    def compute_validation_loss(loss_fn, dataset):
        def compute_loss(info):
            return eval_loss_loop(loss_fn, info.model, dataset)
        return compute_loss
    """
    assert _losses(source) == set()


def test_a_loss_named_cost_that_only_a_matcher_calls_is_not_a_loss():
    source = """
    import torch
    def pair_wise_dice_loss(inputs, labels):
        inputs = inputs.sigmoid().flatten(1)
        return 1 - (2 * torch.matmul(inputs, labels.T) + 1) / (inputs.sum(-1)[:, None] + labels.sum(-1)[None, :] + 1)

    class HungarianMatcher(torch.nn.Module):
        @torch.no_grad()
        def forward(self, masks_queries_logits, mask_labels):
            return pair_wise_dice_loss(masks_queries_logits, mask_labels)
    """
    assert _losses(source) == set()
    used_by_a_loss_too = source + """
    class MaskLoss(torch.nn.Module):
        def forward(self, pred_masks, labels):
            return pair_wise_dice_loss(pred_masks, labels).diagonal().mean()
    """
    assert "pair_wise_dice_loss" in _losses(used_by_a_loss_too)


def test_a_function_named_for_noise_contrastive_estimation_is_a_loss():
    source = """
    import torch
    def rmseNCE(z1, z2, temperature=0.1):
        logits = -torch.cdist(z1.unsqueeze(0), z2.unsqueeze(0)).squeeze(0) / temperature
        return torch.nn.functional.cross_entropy(logits, torch.arange(z1.shape[0]))
    """
    assert [(f.loss, f.code) for f in _lint(source)] == [("rmseNCE", "BSG601")]


def test_a_loss_report_or_summary_is_not_the_loss():
    # figures computed for a log beside the loss (relative errors, norms): nothing trains on them
    source = """
    import jax.numpy as jnp
    class Flow:
        def loss(self, params, batch):
            return jnp.mean((params["w"] * batch["x"] - batch["y"]) ** 2)
        def loss_report(self, params, batch):
            return jnp.log(jnp.abs(params["w"] * batch["x"] - batch["y"]).mean())
        def loss_summary(self, params, batch):
            return jnp.log(jnp.abs(params["w"] * batch["x"] - batch["y"]).mean())
        def abs_log_loss(self, params, batch):
            return jnp.log(jnp.abs(params["w"] * batch["x"] - batch["y"]).mean())
    """
    assert _losses(source) == {"Flow.abs_log_loss"}


def test_a_criterion_forward_in_a_loss_module_is_parsed_whatever_its_class_is_named():
    # torch's convention forward(self, input, target) makes a loss whatever the class is called
    source = ("import torch\n\nclass normal_cos_crit(torch.nn.Module):\n"
              "\tdef forward(self, input, target):\n"
              "\t\tout = 0\n"
              "\t\tfor i in range(0, input.size(0)):\n"
              "\t\t\tout = out + (input[i] - target[i]).abs().sum()\n"
              "\t\treturn out\n")
    from keras_bsguard.lint.api import lint_data
    from keras_bsguard.lint.prefilter import may_contain_loss

    assert may_contain_loss(source.encode(), filename="models/criterion/normal_cos.py")
    assert "BSG101" in {f.code for f in lint_data(source.encode(), "models/criterion/normal_cos.py")}
    # the same forward in a data transform or a layer module is not read as a loss
    assert not may_contain_loss(source.encode(), filename="pkg/transforms/mixup.py")


def test_a_margin_softmax_head_in_any_module_is_linted_as_loss_code():
    # ArcFace/CosFace/AM-softmax heads take the labels and only train; their modules are rarely
    # named for losses (models/heads.py, src/arcface.py)
    from keras_bsguard.lint.prefilter import may_contain_loss

    source = textwrap.dedent("""
    import torch
    class ArcMarginProduct(torch.nn.Module):
        def forward(self, x, label):
            cosine = torch.nn.functional.linear(x, self.weight)
            sine = torch.sqrt(1.0 - torch.pow(cosine, 2))
            return cosine * 0.9 - sine * 0.1
    """)
    assert may_contain_loss(source.encode(), filename="models/heads.py")
    findings = lint_source(source, "models/heads.py")
    assert [(f.code, f.loss) for f in findings] == [("BSG402", "ArcMarginProduct.forward")]
    # the same forward in a class named for nothing in particular, outside a loss module, is a layer
    layer = source.replace("ArcMarginProduct", "Projection")
    assert lint_source(layer, "models/heads.py") == []


def test_a_losses_module_public_function_taking_a_prediction_is_a_loss():
    # the file name is the evidence: in custom_losses.py ``ms_mse`` is a loss the training code
    # imports; the same text in a model module is not read as one
    source = textwrap.dedent("""
    import tensorflow as tf
    def ms_mse(sharp_pyramid, predicted_pyramid):
        return tf.reduce_sum(tf.square(sharp_pyramid[0] - predicted_pyramid[0]))
    """)
    assert {f.loss for f in lint_source(source, "src/utils/custom_losses.py")} == {"ms_mse"}
    assert {f.loss for f in lint_source(source, "pkg/loss/pyramid.py")} == {"ms_mse"}
    assert lint_source(source, "src/models/deblur.py") == []


_L_TERMS = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class Sobelxy(nn.Module):
    def __init__(self):
        super().__init__()
        kernel = torch.FloatTensor([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]).view(1, 1, 3, 3)
        self.weight = nn.Parameter(kernel, requires_grad=False)

    def forward(self, x):
        return torch.abs(F.conv2d(x, self.weight, padding=1))


class L_Grad(nn.Module):
    def __init__(self):
        super().__init__()
        self.sobelconv = Sobelxy()

    def forward(self, image_a, image_b):
        return F.l1_loss(self.sobelconv(image_a), self.sobelconv(image_b))
"""


def test_l_prefixed_loss_terms_are_losses_in_a_losses_file_or_held_by_a_loss():
    from keras_bsguard.lint.api import lint_data

    # Zero-DCE's Myloss.py: the file says losses
    assert {f.code for f in lint_data(_L_TERMS.encode(), "Myloss.py")} == {"BSG603"}
    # elsewhere, held by a loss class of the file (SwinFusion's loss holds its L_ terms)
    held = _L_TERMS + """

class SwinFusionLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.L_Grad = L_Grad()

    def forward(self, image_a, image_b, image_fused):
        return self.L_Grad(image_a, image_fused) + self.L_Grad(image_b, image_fused)
"""
    assert {f.code for f in lint_data(held.encode(), "models/fusion.py")} == {"BSG603"}
    # a bare L_ class in a model file is not a loss for its prefix alone
    assert lint_data(_L_TERMS.encode(), "models/fusion.py") == []


_HELD_MODULES = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class GradientNet(nn.Module):
    # a fixed Sobel filter named as a net: the loss's own work
    def __init__(self):
        super().__init__()
        kernel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]).view(1, 1, 3, 3)
        self.weight = nn.Parameter(kernel, requires_grad=False)

    def forward(self, x):
        gx = F.conv2d(x, self.weight, padding=1)
        gy = F.conv2d(x, self.weight.transpose(2, 3), padding=1)
        return torch.sqrt(gx ** 2 + gy ** 2)


class FeatureNet(nn.Module):
    # a learnable network the loss runs: reported where the loss calls it, not linted as the loss
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3)

    def forward(self, x):
        h = self.conv(x)
        return h / torch.sqrt((h ** 2).sum(1, keepdim=True))


class EdgeLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.grad = GradientNet()
        self.features = FeatureNet()

    def forward(self, pred, target):
        return F.l1_loss(self.grad(pred), self.grad(target)) + F.l1_loss(self.features(pred), self.features(target))
"""


def test_a_held_module_named_as_a_net_is_linted_unless_it_builds_learnable_layers():
    from keras_bsguard.lint.api import lint_data

    rows = {(f.row, f.code) for f in lint_data(_HELD_MODULES.encode(), "losses.py")}
    sobel = {(15, "BSG603"), (17, "BSG402")}
    assert sobel <= rows, rows
    assert not {row for row, _code in rows if 20 <= row <= 29}, rows  # nothing inside FeatureNet
    assert (38, "BSG603") in rows  # FeatureNet reported where the loss runs it


_HELD_LOADED_NETWORKS = """
import torch
import torch.nn as nn


class LoadedNet(nn.Module):
    def __init__(self, path):
        super().__init__()
        self.net = torch.load(path)

    def forward(self, x):
        return torch.sqrt((self.net(x) ** 2).sum(1))


class ScaleModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return torch.sqrt(x ** 2) * self.scale


class FeatureLoss(nn.Module):
    def __init__(self, path):
        super().__init__()
        self.features = LoadedNet(path)
        self.scaler = ScaleModel()

    def forward(self, pred, target):
        return (self.features(pred) - self.features(target)).abs().mean() + self.scaler(pred - target).mean()
"""


def test_a_held_net_that_loads_weights_or_learns_parameters_is_another_network():
    from keras_bsguard.lint.api import lint_data

    rows = {(f.row, f.code) for f in lint_data(_HELD_LOADED_NETWORKS.encode(), "losses.py")}
    assert not {row for row, _code in rows if row < 24}, rows  # nothing inside LoadedNet or ScaleModel

# PyTorch losses with common bugs (function style).
import random

import torch
import torch.nn.functional as F

BATCH_SIZE = 16


def rmse_loss(pred, target):
    return torch.sqrt(F.mse_loss(pred, target))  # EXPECT: BSG402


def random_margin_loss(pred, target):
    margin = random.uniform(0.1, 0.5)  # EXPECT: BSG202
    return F.relu(margin - pred * target).mean()


def fixed_view_loss(pred, target):
    pred = pred.view(BATCH_SIZE, -1)  # EXPECT: BSG502
    return F.mse_loss(pred, target.view(-1, pred.shape[1]))


def sum_loss(pred, target):
    return ((pred - target) ** 2).sum()  # EXPECT: BSG501


def exp_loss(pred, target):
    return torch.exp(5 * (pred - target).abs()).mean()  # EXPECT: BSG401


def sign_loss(pred, target):
    return (torch.sign(pred) != torch.sign(target)).float().mean()  # EXPECT: BSG302

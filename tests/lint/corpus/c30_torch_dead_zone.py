# PyTorch regression losses with dead zones.
import torch
import torch.nn as nn
import torch.nn.functional as F


class ClampedL2(nn.Module):
    def forward(self, pred, target):
        err = torch.clamp(pred - target, -1.0, 1.0)  # EXPECT: BSG301
        return (err ** 2).mean()


class MarginL1(nn.Module):
    def __init__(self, margin=0.1):
        super().__init__()
        self.margin = margin

    def forward(self, pred, target):
        return F.relu(torch.abs(pred - target) - self.margin).mean()  # EXPECT: BSG301


def smooth_l1(pred, target, beta=1.0):
    diff = torch.abs(pred - target)
    return torch.where(diff < beta, 0.5 * diff ** 2 / beta, diff - 0.5 * beta).mean()


criterion = ClampedL2()

# PyTorch losses with host syncs and randomness.
import torch
import torch.nn as nn


class AdaptiveMSE(nn.Module):
    def forward(self, pred, target):
        err = ((pred - target) ** 2).mean()
        if err.item() > 100.0:  # EXPECT: BSG701
            err = err / 10.0
        return err


class NoisyL1(nn.Module):
    def forward(self, pred, target):
        noise = torch.randn_like(target) * 0.05  # EXPECT: BSG202
        return (pred - (target + noise)).abs().mean()


def logged_mse(y_pred, y_true):
    loss = torch.mean((y_pred - y_true) ** 2)
    print("batch loss:", loss.item())  # EXPECT: BSG701
    return loss

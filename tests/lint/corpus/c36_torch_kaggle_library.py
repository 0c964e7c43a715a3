# In the style of the Kaggle "Loss Function Library - Keras & PyTorch" notebook.
import torch
import torch.nn as nn
import torch.nn.functional as F


class IoULoss(nn.Module):
    def __init__(self, weight=None, size_average=True):
        super().__init__()

    def forward(self, inputs, targets, smooth=1):
        inputs = torch.sigmoid(inputs)
        inputs = inputs.view(-1)
        targets = targets.view(-1)
        intersection = (inputs * targets).sum()
        total = (inputs + targets).sum()
        union = total - intersection
        return 1 - (intersection + smooth) / (union + smooth)


class LogDiceLoss(nn.Module):
    def forward(self, inputs, targets):
        inputs = torch.sigmoid(inputs).view(inputs.size(0), -1)
        targets = targets.view(targets.size(0), -1)
        dice = 2 * (inputs * targets).sum(1) / (inputs.sum(1) + targets.sum(1))  # EXPECT: BSG402
        return -torch.log(dice).mean()  # EXPECT: BSG402


class WeightedBCE(nn.Module):
    def __init__(self, pos_weight=2.0):
        super().__init__()
        self.pos_weight = pos_weight

    def forward(self, input, target):
        p = torch.sigmoid(input)
        loss = -(self.pos_weight * target * torch.log(p) + (1 - target) * torch.log(1 - p))  # EXPECT: BSG402
        return loss.mean()


class TverskyLoss(nn.Module):
    def forward(self, inputs, targets, alpha=0.5, beta=0.5):
        inputs = torch.sigmoid(inputs)
        for i in range(inputs.shape[0]):  # EXPECT: BSG101
            inputs[i] = inputs[i] / inputs[i].max()
        tp = (inputs * targets).sum()
        fp = ((1 - targets) * inputs).sum()
        fn = (targets * (1 - inputs)).sum()
        return 1 - (tp + 1) / (tp + alpha * fp + beta * fn + 1)

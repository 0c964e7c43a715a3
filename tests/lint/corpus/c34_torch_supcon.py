# Supervised contrastive loss (PyTorch) and a probability-space NLL module.
import torch
import torch.nn as nn
import torch.nn.functional as F


def supcon_loss(features, labels, temperature=0.07):
    features = F.normalize(features, dim=1)
    sim = features @ features.T / temperature  # EXPECT: BSG601
    sim = sim - sim.max(dim=1, keepdim=True)[0].detach()
    mask = torch.eq(labels.view(-1, 1), labels.view(1, -1)).float()
    logits_mask = 1 - torch.eye(features.shape[0], device=features.device)
    mask = mask * logits_mask
    exp_logits = torch.exp(sim) * logits_mask
    log_prob = sim - torch.log(exp_logits.sum(1, keepdim=True) + 1e-12)
    return -((mask * log_prob).sum(1) / mask.sum(1).clamp(min=1)).mean()


class ProbNLL(nn.Module):
    def forward(self, pred, target):
        return -(target * torch.log(pred)).sum(dim=1).mean()  # EXPECT: BSG402


class SafeProbNLL(nn.Module):
    def forward(self, pred, target):
        pred = pred.clamp(min=1e-7, max=1.0)
        return -(target * torch.log(pred)).sum(dim=1).mean()

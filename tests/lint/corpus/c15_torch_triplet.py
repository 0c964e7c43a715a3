# Batch-hard triplet loss (PyTorch), as in many re-id repos.
import torch
import torch.nn as nn
import torch.nn.functional as F


class BatchHardTripletLoss(nn.Module):
    def __init__(self, margin=0.3):
        super().__init__()
        self.margin = margin

    def forward(self, embeddings, labels):
        dist = torch.cdist(embeddings, embeddings, p=2)  # EXPECT: BSG601
        same = labels.unsqueeze(0) == labels.unsqueeze(1)
        hardest_pos = (dist * same.float()).max(dim=1)[0]
        hardest_neg = (dist + 1e5 * same.float()).min(dim=1)[0]
        return F.relu(hardest_pos - hardest_neg + self.margin).mean()


class PairwiseContrastive(nn.Module):
    def __init__(self, margin=1.0):
        super().__init__()
        self.margin = margin

    def forward(self, x, target):
        diff = x.unsqueeze(1) - x.unsqueeze(0)  # EXPECT: BSG601
        d2 = (diff ** 2).sum(-1)
        pos = target * d2
        neg = (1 - target) * F.relu(self.margin - d2)
        return (pos + neg).mean()


def train(model, loader, opt):
    crit = BatchHardTripletLoss()
    for x, y in loader:
        loss = crit(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        print(f"loss {loss.item():.4f}")

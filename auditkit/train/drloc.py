"""The dense relative localization loss of Liu et al. 2021 (NeurIPS), section 4.

"Efficient Training of Visual Transformers with Small Datasets": an auxiliary self-supervised
task on the final k x k grid of embeddings of a network. For each image, m pairs of grid
positions (i, j), (p, h) are drawn uniformly; a small MLP ``f`` reads the concatenated pair of
embeddings and predicts their normalised distance t = (|i - p| / k, |j - h| / k); the loss is the
L1 distance between prediction and target, averaged over the pairs of an image and summed over
the images of the batch (the paper's Eq. 2), and L_tot = L_ce + lambda * L_drloc. The authors'
released code (yhlleo/VTs-Drloc, read at 6ac2c44) differs in three places, each a recipe field:
the target in grid cells, not divided by k (``drloc_target``); the mean over the batch, not the
sum (``F.l1_loss``; ``drloc_reduction``, whose default is the code's: with the paper's lambda a
sum would weigh L_drloc batch-size times more than the cross-entropy); lambda ramped from 0 over
20 epochs, then decayed toward epoch 300 (``drloc_schedule``).

- ``embedding_grid``: the final grid, (batch, C, H, W): a ConvNet's last feature map as it is
  (the paper's ResNet row of Table 4); a token sequence without its prefix (class) tokens,
  reshaped to its square grid; timm's channels-last maps (Swin) permuted.
- ``pooled_grid``: a grid finer than k x k average-pooled to k x k, without parameters
  (``adaptive_avg_pool2d``: 14 x 14 -> 7 x 7 averages each 2 x 2 block; VTs-Drloc pools T2T's and
  CvT's 14 x 14 with ``AvgPool2d(3, 2, padding=1)``, overlapping windows: a difference we keep,
  the paper says average pooling to k x k); a coarser grid is kept as it is.
- ``sample_pairs``: m pairs per image, both positions uniform over the grid, drawn from a
  generator the caller seeds (the training loop: by repeat, epoch and image position).
- ``DRLocHead``: f, an MLP with two hidden layers and two outputs.

The facts not in the paper's text (the MLP's width, sampling with replacement, both ends of a
pair independent) are taken from the released code (drloc/aux_modules.py), cited where used.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from auditkit.errors import AuditError

GRID = 7  # k: the paper's final grid (its Swin, T2T and CvT all end at, or pool to, 7 x 7)
PAIRS = 64  # m: pairs per image (Table 2a: 64 is its best)
HIDDEN = 512  # f's hidden width (VTs-Drloc drloc/aux_modules.py: Linear(2C, 512), Linear(512, 512), Linear(512, 2))


class NoGrid(AuditError):
    """The network's final features are not a spatial grid: L_drloc cannot apply."""


def embedding_grid(features: torch.Tensor, prefix_tokens: int = 0, channels_last: bool = False) -> torch.Tensor:
    """The final embeddings as a (batch, C, H, W) grid.

    ``features`` is a (batch, C, H, W) map (``channels_last``: (batch, H, W, C), timm's Swin) or a
    (batch, tokens, C) sequence whose first ``prefix_tokens`` (class, distillation, register
    tokens) are dropped and the rest reshaped to their square grid, row by row."""
    if features.ndim == 4:
        return features.permute(0, 3, 1, 2) if channels_last else features
    if features.ndim == 3:
        tokens = features[:, prefix_tokens:]
        side = math.isqrt(tokens.shape[1])
        if side * side != tokens.shape[1] or side == 0:
            raise NoGrid(f"the final {tokens.shape[1]} tokens (after {prefix_tokens} prefix tokens) are not a square "
                         "grid: L_drloc needs the k x k grid of the last layer")
        return tokens.transpose(1, 2).reshape(len(tokens), tokens.shape[2], side, side)
    raise NoGrid(f"the final features have shape {tuple(features.shape)}, not a grid: L_drloc needs a "
                 "(batch, C, H, W) map or a (batch, tokens, C) sequence")


def pooled_grid(grid: torch.Tensor, k: int = GRID) -> torch.Tensor:
    """A grid finer than ``k`` x ``k`` average-pooled to it (no parameters); others unchanged.
    A grid smaller than 2 x 2 has no pairs at two places: refused."""
    height, width = grid.shape[-2:]
    if min(height, width) < 2:
        raise NoGrid(f"the final grid is {height} x {width}: L_drloc needs at least 2 x 2 positions "
                     "(raise the input size, or use a network with a finer last stage)")
    if height > k or width > k:
        return F.adaptive_avg_pool2d(grid, (min(height, k), min(width, k)))
    return grid


def sample_pairs(batch: int, height: int, width: int, pairs: int, generators: list[torch.Generator]) -> torch.Tensor:
    """(batch, pairs, 4) positions (i, j, p, h), each image's drawn uniformly with its own
    generator (with replacement, as VTs-Drloc's ``torch.randint``)."""
    rows = []
    for generator in generators:
        i = torch.randint(height, (pairs, 2), generator=generator)
        j = torch.randint(width, (pairs, 2), generator=generator)
        rows.append(torch.stack([i[:, 0], j[:, 0], i[:, 1], j[:, 1]], dim=1))
    if len(rows) != batch:
        raise ValueError(f"{len(rows)} generators for a batch of {batch}")
    return torch.stack(rows)


class DRLocHead(nn.Module):
    """f: the concatenated pair of embeddings -> two hidden layers (ReLU) -> the 2-d distance."""

    def __init__(self, width: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2 * width, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 2))

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([first, second], dim=-1))


def drloc_loss(grid: torch.Tensor, head: DRLocHead, positions: torch.Tensor, normalised: bool = True,
               reduction: str = "sum") -> torch.Tensor:
    """L_drloc of a batch: per image the mean L1 error of f's predicted distances over its pairs
    and the two coordinates; summed over the images (Eq. 2, ``reduction="sum"``) or averaged
    (``"mean"``: VTs-Drloc's ``F.l1_loss``).

    ``grid``: (batch, C, H, W), already pooled; ``positions``: ``sample_pairs``' (batch, m, 4).
    The target distance is divided by the grid's side (``normalised``: the paper's t = |i - p| / k)
    or left in grid cells (VTs-Drloc, which never sets its ``normalize`` flag)."""
    batch, channels, height, width = grid.shape
    flat = grid.flatten(2).transpose(1, 2)  # (batch, H*W, C)
    i, j, p, h = positions.to(grid.device).unbind(-1)
    first = torch.gather(flat, 1, (i * width + j).unsqueeze(-1).expand(-1, -1, channels))
    second = torch.gather(flat, 1, (p * width + h).unsqueeze(-1).expand(-1, -1, channels))
    target = torch.stack([(i - p).abs().float(), (j - h).abs().float()], dim=-1)
    if normalised:
        target = target / torch.tensor([height, width], dtype=torch.float32, device=grid.device)
    per_image = (head(first, second).float() - target).abs().mean(dim=(1, 2))
    return per_image.sum() if reduction == "sum" else per_image.mean()

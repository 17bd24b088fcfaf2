"""Liu et al.'s dense relative localization loss, checked against hand-worked grids."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from auditkit.train.drloc import (
    DRLocHead,
    NoGrid,
    drloc_loss,
    embedding_grid,
    pooled_grid,
    sample_pairs,
)


class CoordinateDecoder(DRLocHead):
    """An f that reads the coordinates an embedding encodes (channels 0, 1 = row, column) and
    returns their normalised absolute differences: exact on a coordinate grid."""

    def __init__(self, k: int, cells: bool = False) -> None:
        super().__init__(2, hidden=1)
        self.k, self.cells = k, cells

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        delta = (first[..., :2] - second[..., :2]).abs()
        return delta if self.cells else delta / self.k


def coordinate_grid(batch: int, k: int) -> torch.Tensor:
    rows, cols = torch.meshgrid(torch.arange(k, dtype=torch.float32), torch.arange(k, dtype=torch.float32), indexing="ij")
    return torch.stack([rows, cols]).unsqueeze(0).repeat(batch, 1, 1, 1)  # (batch, 2, k, k)


def _pairs(batch: int, k: int, m: int = 64, seed: int = 0) -> torch.Tensor:
    return sample_pairs(batch, k, k, m, [torch.Generator().manual_seed(seed + b) for b in range(batch)])


def test_a_grid_that_encodes_its_coordinates_and_an_f_that_decodes_them_give_zero():
    grid = coordinate_grid(3, 7)
    pairs = _pairs(3, 7)
    assert drloc_loss(grid, CoordinateDecoder(7), pairs).item() == 0.0
    assert drloc_loss(grid, CoordinateDecoder(7, cells=True), pairs, normalised=False, reduction="mean").item() == 0.0


def test_shuffled_embeddings_do_not_give_zero_and_the_value_is_the_hand_worked_one():
    grid = coordinate_grid(2, 7)
    shuffled = grid.flatten(2)[:, :, torch.randperm(49, generator=torch.Generator().manual_seed(1))].reshape(2, 2, 7, 7)
    pairs = _pairs(2, 7)
    loss = drloc_loss(shuffled, CoordinateDecoder(7), pairs)
    assert loss.item() > 0.1
    # by hand: per image the mean over pairs and both coordinates of |predicted - target|
    expected = 0.0
    for b in range(2):
        errors = []
        for i, j, p, h in pairs[b].tolist():
            e, f = shuffled[b, :, i, j], shuffled[b, :, p, h]
            predicted = ((e - f).abs() / 7).tolist()
            errors += [abs(predicted[0] - abs(i - p) / 7), abs(predicted[1] - abs(j - h) / 7)]
        expected += float(np.mean(errors))  # Eq. 2: summed over the batch
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    mean = drloc_loss(shuffled, CoordinateDecoder(7), pairs, reduction="mean")
    assert mean.item() == pytest.approx(expected / 2, rel=1e-6)


def test_pairs_are_uniform_over_the_grid():
    k, m = 7, 64
    pairs = _pairs(40, k, m)  # 40 x 64 x 2 = 5120 positions
    cells = torch.cat([pairs[..., 0] * k + pairs[..., 1], pairs[..., 2] * k + pairs[..., 3]]).flatten().numpy()
    counts = np.bincount(cells, minlength=k * k)
    assert stats.chisquare(counts).pvalue > 1e-3
    # the two ends of a pair are independent: their rows are uncorrelated
    first, second = pairs[..., 0].flatten().numpy(), pairs[..., 2].flatten().numpy()
    assert abs(np.corrcoef(first, second)[0, 1]) < 0.08
    assert pairs.shape == (40, m, 4) and pairs.min() >= 0 and pairs.max() < k


def test_a_14_grid_is_average_pooled_to_7_without_parameters():
    grid = torch.randn(2, 5, 14, 14)
    pooled = pooled_grid(grid, 7)
    assert pooled.shape == (2, 5, 7, 7)
    by_hand = grid.reshape(2, 5, 7, 2, 7, 2).mean(dim=(3, 5))
    assert torch.allclose(pooled, by_hand, atol=1e-6)
    assert pooled_grid(torch.randn(1, 3, 4, 4), 7).shape == (1, 3, 4, 4)  # coarser: kept
    with pytest.raises(NoGrid, match="at least 2 x 2"):
        pooled_grid(torch.randn(1, 3, 1, 1), 7)


def test_sequences_drop_their_prefix_tokens_and_fold_row_by_row():
    tokens = torch.arange(2 * 17 * 3, dtype=torch.float32).reshape(2, 17, 3)  # 1 class token + 4 x 4
    grid = embedding_grid(tokens, prefix_tokens=1)
    assert grid.shape == (2, 3, 4, 4)
    assert torch.equal(grid[1, :, 2, 3], tokens[1, 1 + 2 * 4 + 3])
    nhwc = torch.randn(2, 7, 7, 5)
    assert torch.equal(embedding_grid(nhwc, channels_last=True), nhwc.permute(0, 3, 1, 2))
    with pytest.raises(NoGrid, match="not a square grid"):
        embedding_grid(torch.randn(2, 1 + 15, 3), prefix_tokens=1)
    with pytest.raises(NoGrid, match="not a grid"):
        embedding_grid(torch.randn(2, 3))


def test_the_gradient_reaches_the_backbone():
    torch.manual_seed(0)
    backbone = torch.nn.Conv2d(3, 8, 3, padding=1)
    head = DRLocHead(8)
    grid = backbone(torch.randn(2, 3, 7, 7))
    drloc_loss(grid, head, _pairs(2, 7)).backward()
    assert backbone.weight.grad is not None and backbone.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in head.parameters())
    assert [m.out_features for m in head.mlp if isinstance(m, torch.nn.Linear)] == [512, 512, 2]

"""Centered kernel alignment (CKA) between the layers of one model, and of two models.

Definitions (Kornblith et al. 2019, "Similarity of neural network representations revisited";
minibatch estimator of Nguyen, Raghu & Kornblith 2021, "Do wide and deep networks learn the same
things?", Sec. 3):
- For representations X (n x p) and Y (n x q) of the same n images with Gram matrices K, L:
  CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)).
- Linear kernel K = X X^T. RBF kernel K_ij = exp(-|x_i - x_j|^2 / (2 sigma^2)), sigma =
  ``RBF_SIGMA_FRACTION`` (0.5) x the median pairwise distance (Kornblith et al.'s choice),
  taken per minibatch.
- Minibatch CKA: images in a seeded random order, cut into minibatches of ``MINIBATCH`` (256);
  CKA = sum_i HSIC_1(K_i, L_i) / sqrt(sum_i HSIC_1(K_i, K_i) sum_i HSIC_1(L_i, L_i)) with the
  unbiased HSIC_1 of Song et al. 2012. Memory is O(minibatch^2), so it scales to 50k images, and
  the estimate does not depend on the minibatch size in expectation (unlike averaging per-batch
  biased CKA).
Representations: each stage / block output averaged over space (ViTs: over patch tokens; open_clip
image towers: their blocks or trunk stages), then the penultimate embedding (CLIP: the image
embedding; ``ModelAdapter.layer_features``, request output "layers"). Averaging
over space is our simplification so that every layer fits the feature store; CKA on flattened
feature maps (as in Kornblith et al.) would give other numbers.

Records, all at condition ``none`` (the plain view): one model (``--model A``): CKA between every
pair of its layers (``subset`` = the layer pair ``<a> vs <b>``, upper triangle), heat map. Two
models (``--model A --reference-model B``, the design we chose: the second model is forwarded on
the same images in the same run and cached in the store like the first): also CKA between every
layer of A and every layer of B (``subset`` = ``<a> vs B:<b>``), heat map; the headline (subset
``all``) is the CKA between the two models' penultimate representations. Metrics ``linear_cka``
and ``rbf_cka``; no CIs (the minibatch estimate is not a mean over images). Datasets: ``digits``
(built in) and ``imagenet-val`` when present.

CKA is a statistic of the whole set of representations, not a mean of per-image values, so the
records have no per-sample definition: ``sample_metrics`` and ``sample_hits`` give nothing (paired
per-image comparisons do not apply; the run's minibatch order is seeded by the run's seed, and the
reference model's layers are not saved), and ``comparison_figures`` recompute CKA across runs.

For ``audit compare`` (runs of different models on the same images): each run saves its pooled
layer features as float16 in ``per_sample/cka/<dataset>/none.npz`` (arrays ``layer:<name>``,
with ``sample_id`` and ``content_sha1``; about 1 GB for a ViT-B's 13 representations of 50k
images). ``comparison_figures`` matches the runs' images on
(sample id, content hash) and draws the model x model CKA of their penultimate representations;
for other layer pairs call ``minibatch_cka(features_a, features_b, kernel, seed)`` (pure numpy).
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from auditkit.records import ALL
from auditkit.suite import Metric, PredictionRequest, Predictions, Suite, SuiteFigure, SuiteOutput

MINIBATCH = 256
RBF_SIGMA_FRACTION = 0.5
KERNELS = ("linear", "rbf")
DATASETS = ("digits", "imagenet-val")
PENULTIMATE = "layer:penultimate"  # its array in per_sample/cka/<dataset>/none.npz


# -- kernels ---------------------------------------------------------------------------------

def linear_gram(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x @ x.T


def rbf_gram(x: np.ndarray, sigma_fraction: float = RBF_SIGMA_FRACTION) -> np.ndarray:
    """exp(-d^2 / (2 sigma^2)), sigma = sigma_fraction x median pairwise distance."""
    x = np.asarray(x, dtype=np.float64)
    squared = np.sum(x * x, axis=1)
    distances = np.maximum(squared[:, None] + squared[None, :] - 2 * x @ x.T, 0.0)
    off_diagonal = distances[~np.eye(len(x), dtype=bool)]
    median = np.median(np.sqrt(off_diagonal)) if off_diagonal.size else 0.0
    sigma = sigma_fraction * median
    if sigma == 0:  # every image has the same representation
        return np.ones_like(distances)
    return np.exp(-distances / (2 * sigma**2))


GRAMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"linear": linear_gram, "rbf": rbf_gram}


# -- HSIC and CKA ----------------------------------------------------------------------------

def biased_hsic(k: np.ndarray, l: np.ndarray) -> float:
    """HSIC_0 = tr(K H L H) / (n - 1)^2 (Gretton et al. 2005), H the centering matrix."""
    n = k.shape[0]
    centre = np.eye(n) - 1.0 / n
    return float(np.sum((centre @ k @ centre) * l) / (n - 1) ** 2)


def unbiased_hsic(k: np.ndarray, l: np.ndarray) -> float:
    """HSIC_1 (Song et al. 2012; Nguyen et al. 2021 eq. 3): diagonals zeroed, n > 3."""
    n = k.shape[0]
    if n < 4:
        raise ValueError(f"unbiased HSIC needs at least 4 samples, got {n}")
    k = k.copy()
    l = l.copy()
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l, 0.0)
    ones_k = k.sum(axis=0)
    ones_l = l.sum(axis=0)
    trace = np.sum(k * l)
    total = trace + ones_k.sum() * ones_l.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * ones_k @ ones_l
    return float(total / (n * (n - 3)))


def cka(x: np.ndarray, y: np.ndarray, kernel: str = "linear", unbiased: bool = False) -> float:
    """CKA on all n images at once (n x n Grams): the reference the minibatch estimate approximates."""
    k, l = GRAMS[kernel](x), GRAMS[kernel](y)
    hsic = unbiased_hsic if unbiased else biased_hsic
    return float(hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l)))


def minibatches(n: int, seed: int, size: int = MINIBATCH) -> list[np.ndarray]:
    """A seeded random order cut into minibatches (a last one of fewer than 4 joins the previous)."""
    order = np.random.default_rng(seed).permutation(n)
    batches = [order[s:s + size] for s in range(0, n, size)]
    if len(batches) > 1 and len(batches[-1]) < 4:
        batches[-2] = np.concatenate([batches[-2], batches.pop()])
    return batches


def minibatch_cka_matrix(
    a: Sequence[np.ndarray], b: Sequence[np.ndarray], kernel: str = "linear", seed: int = 0,
    size: int = MINIBATCH,
) -> np.ndarray:
    """CKA between every representation in ``a`` and every one in ``b`` (same images, same row
    order), accumulating HSIC_1 over minibatches: O(size^2) memory besides the inputs, which may
    be memory-mapped float32 (each minibatch is read and cast to float64 on its own)."""
    n = a[0].shape[0]
    if any(x.shape[0] != n for x in (*a, *b)):
        raise ValueError("every representation must hold the same images")
    cross = np.zeros((len(a), len(b)))
    self_a = np.zeros(len(a))
    self_b = np.zeros(len(b))
    gram = GRAMS[kernel]
    for batch in minibatches(n, seed, size):
        grams_a = [gram(x[batch]) for x in a]
        grams_b = [gram(y[batch]) for y in b]
        self_a += [unbiased_hsic(k, k) for k in grams_a]
        self_b += [unbiased_hsic(l, l) for l in grams_b]
        cross += [[unbiased_hsic(k, l) for l in grams_b] for k in grams_a]
    with np.errstate(invalid="ignore", divide="ignore"):
        return cross / np.sqrt(np.outer(self_a, self_b))


def minibatch_cka(x: np.ndarray, y: np.ndarray, kernel: str = "linear", seed: int = 0, size: int = MINIBATCH) -> float:
    return float(minibatch_cka_matrix([x], [y], kernel, seed, size)[0, 0])


# -- the suite -------------------------------------------------------------------------------

class CkaSuite(Suite):
    name = "cka"
    version = "0.1"
    description = "linear and RBF CKA (minibatch, unbiased HSIC) between layers, and with --reference-model"
    datasets = DATASETS
    title = "CKA"
    metrics = {
        "linear_cka": Metric("linear CKA", "centered kernel alignment of two layers' representations with a linear "
                             "kernel, minibatch unbiased-HSIC estimate (0 = unrelated, 1 = the same up to rotation "
                             "and scale)"),
        "rbf_cka": Metric("RBF CKA", "centered kernel alignment with an RBF kernel (sigma = 0.5 x the median "
                          "distance), minibatch unbiased-HSIC estimate (0 ... 1)"),
    }

    # the pooled stage / block outputs (ModelAdapter.layer_features): recorded answers have none
    accepts = ("layers",)

    def sample_hits(self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
        return {}  # CKA is not a mean of per-image hits (module docstring)

    def sample_metrics(self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], float]:
        return {}  # no record of this suite is a function of one run's per-image arrays (module docstring)

    def requests(self) -> list[PredictionRequest]:
        return [PredictionRequest(d, output="layers", model=m) for d in DATASETS for m in ("subject", "reference")]

    def comparison_figures(
        self, samples: Mapping[str, Mapping[tuple[str, str], Mapping[str, np.ndarray]]]
    ) -> list[SuiteFigure]:
        """Model x model CKA of the penultimate representations, on the images every run has."""
        from suites.cka.plots import cka_heat_map

        figures = []
        for dataset in DATASETS:
            runs = {m: a[(dataset, "none")] for m, a in samples.items()
                    if (dataset, "none") in a and PENULTIMATE in a[(dataset, "none")]}
            if len(runs) < 2:
                continue
            keys = [set(zip(a["sample_id"].astype(str), a["content_sha1"].astype(str))) for a in runs.values()]
            shared = sorted(set.intersection(*keys))
            if len(shared) < 4:
                continue
            features = []
            for arrays in runs.values():
                row = {key: r for r, key in enumerate(zip(arrays["sample_id"].astype(str), arrays["content_sha1"].astype(str)))}
                features.append(arrays[PENULTIMATE][[row[key] for key in shared]].astype(np.float64))
            names = list(runs)
            matrices = {k: minibatch_cka_matrix(features, features, k) for k in KERNELS}
            figures.append(SuiteFigure(
                dataset, "cka_models", cka_heat_map(matrices, names, names, "model", "model", dataset),
                f"Minibatch CKA between the models' penultimate representations on the {len(shared)} images "
                "all runs share (matched by sample id and content hash); left linear, right RBF.",
            ))
        return figures

    def evaluate(
        self, model: str, predictions: dict[PredictionRequest, Predictions], seed: int
    ) -> SuiteOutput:
        from suites.cka.plots import cka_heat_map

        output = SuiteOutput()
        for dataset in DATASETS:
            subject = predictions.get(PredictionRequest(dataset, output="layers"))
            if subject is None or not subject.layers:
                continue
            names = list(subject.layers)
            layers = [subject.layers[n] for n in names]
            n = len(subject.source)
            pairs: list[tuple[str, list[str], list[np.ndarray], str]] = [("layers", names, layers, model)]
            reference = predictions.get(PredictionRequest(dataset, output="layers", model="reference"))
            if reference is not None and reference.layers:
                pairs.append(("reference", list(reference.layers),
                              list(reference.layers.values()), reference.model_name))
            for figure_name, other_names, other_layers, other_model in pairs:
                matrices = {k: minibatch_cka_matrix(layers, other_layers, k, seed) for k in KERNELS}
                for kernel, matrix in matrices.items():
                    for i, a in enumerate(names):
                        for j, b in enumerate(other_names):
                            if figure_name == "layers" and j <= i:
                                continue  # symmetric, diagonal 1
                            pair = f"{a} vs {b}" if figure_name == "layers" else f"{a} vs {other_model}:{b}"
                            output.records.append(self.record(model, dataset=dataset, subset=pair,
                                                              metric=f"{kernel}_cka", value=matrix[i, j], n=n))
                if figure_name == "reference":  # the headline: final representations of the two models
                    for kernel, matrix in matrices.items():
                        output.records.append(self.record(model, dataset=dataset, subset=ALL, metric=f"{kernel}_cka",
                                                          value=matrix[-1, -1], n=n))
                output.figures.append(SuiteFigure(
                    dataset, f"cka_{figure_name}",
                    cka_heat_map(matrices, names, other_names, f"{model} layer", f"{other_model} layer", dataset),
                    f"Minibatch CKA (unbiased HSIC, batches of {MINIBATCH}, {n} images) between the pooled layers of "
                    f"{model} and {'itself' if figure_name == 'layers' else other_model}; left linear, right RBF "
                    f"(sigma = {RBF_SIGMA_FRACTION} x median distance).",
                ))
            output.add_samples(subject, {
                f"layer:{name}": values.astype(np.float16) for name, values in zip(names, layers)  # PENULTIMATE among them
            }, dataset=dataset, condition=subject.condition)
        return output

"""Paired tests between two runs on the samples both have (Dietterich 1998; Efron & Tibshirani).

- Runs are matched sample by sample on ``sample_id``; where both runs recorded the image's
  ``content_sha1`` the hashes must agree, else the sample is left out (the files differ).
  Repeated ids (a pooled observer: ten humans' trials on one stimulus) cannot be paired.
- Paired bootstrap of each metric's difference: the same resampled rows for both models, the
  metric recomputed by the suite (``Suite.sample_metrics``) on each; 95 % percentile interval;
  two-sided p from the difference over its bootstrap standard error (normal approximation).
- McNemar's exact test for metrics that are means of per-sample hits (top-1, accuracy):
  p = 2 P(Binomial(b + c, 1/2) <= min(b, c)), b = only A right, c = only B right.
- Holm's step-down adjustment over every test of a comparison; marks use the adjusted p.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np
from scipy import stats

from auditkit.stats import CI_LEVEL, DEFAULT_RESAMPLES
from auditkit.suite import IDENTITY_ARRAYS, Suite

Arrays = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Alignment:
    """Rows of A and of B holding the same samples, in A's order."""

    rows_a: np.ndarray
    rows_b: np.ndarray
    only_a: int  # samples A has and B has not
    only_b: int
    content_differs: int  # same id, different image bytes: left out


def align(a: Arrays, b: Arrays) -> Alignment | str:
    """The shared samples of two per-sample files, or why they cannot be paired."""
    ids_a, ids_b = a["sample_id"].astype(str), b["sample_id"].astype(str)
    if len(set(ids_a)) != len(ids_a) or len(set(ids_b)) != len(ids_b):
        return "sample ids repeat (pooled trials, e.g. several subjects per image), so rows cannot be paired"
    position_b = {sample: row for row, sample in enumerate(ids_b)}
    sha_a = a.get("content_sha1", np.full(len(ids_a), "")).astype(str)
    sha_b = b.get("content_sha1", np.full(len(ids_b), "")).astype(str)
    rows_a, rows_b, differs = [], [], 0
    for row, sample in enumerate(ids_a):
        other = position_b.get(sample)
        if other is None:
            continue
        if sha_a[row] and sha_b[other] and sha_a[row] != sha_b[other]:
            differs += 1
            continue
        rows_a.append(row)
        rows_b.append(other)
    shared = len(rows_a) + differs
    return Alignment(np.array(rows_a, dtype=np.int64), np.array(rows_b, dtype=np.int64),
                     len(ids_a) - shared, len(ids_b) - shared, differs)


def take(arrays: Arrays, rows: np.ndarray) -> dict[str, np.ndarray]:
    return {name: values[rows] for name, values in arrays.items() if name not in IDENTITY_ARRAYS}


def mcnemar_exact(hits_a: np.ndarray, hits_b: np.ndarray) -> tuple[float, int, int]:
    """McNemar's exact (binomial) test: (p, b, c), b = A right & B wrong, c = A wrong & B right."""
    b = int(np.sum(hits_a & ~hits_b))
    c = int(np.sum(~hits_a & hits_b))
    if b + c == 0:
        return 1.0, b, c
    return float(min(1.0, 2 * stats.binom.cdf(min(b, c), b + c, 0.5))), b, c


def bootstrap_p(difference: float, differences: np.ndarray) -> float:
    """Two-sided p of 'no difference': the observed difference over its bootstrap standard error,
    against a normal (NaN resamples dropped). Unlike counting resamples past 0, whose floor is
    2 / (R + 1), it stays informative after a multiple-comparison adjustment."""
    finite = differences[np.isfinite(differences)]
    if finite.size < 2 or not np.isfinite(difference):
        return float("nan")
    error = float(np.std(finite, ddof=1))
    if error == 0:
        return 1.0 if difference == 0 else 0.0
    return float(2 * stats.norm.sf(abs(difference) / error))


@dataclass(frozen=True)
class PairedTest:
    suite: str
    dataset: str
    condition: str  # the records' condition (the per-sample file's)
    subset: str  # the records' subset
    metric: str
    model_a: str
    model_b: str
    n: int  # shared samples the test rests on
    value_a: float  # each model's metric on the shared samples
    value_b: float
    difference: float  # value_a - value_b
    ci_low: float
    ci_high: float
    p_bootstrap: float
    p_mcnemar: float | None = None
    only_a_right: int | None = None  # McNemar's b
    only_b_right: int | None = None  # McNemar's c
    p_adjusted: float = float("nan")  # Holm over the whole comparison

    @property
    def p(self) -> float:
        """The test's p: McNemar's where the metric is a mean of hits, else the bootstrap's."""
        return self.p_bootstrap if self.p_mcnemar is None else self.p_mcnemar

    @property
    def stars(self) -> str:
        p = self.p_adjusted
        return "" if not np.isfinite(p) else "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def paired_tests(
    suite: Suite, dataset: str, condition: str, names: tuple[str, str], a: Arrays, b: Arrays,
    wanted: set[tuple[str, str]], resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
) -> tuple[list[PairedTest], Alignment | str]:
    """Every metric in ``wanted`` ((subset, metric) keys of the records at (``dataset``,
    ``condition``)) that the suite computes from both runs' per-sample arrays of that file
    (``Suite.sample_metrics``), tested on the shared samples."""
    alignment = align(a, b)
    if isinstance(alignment, str) or not len(alignment.rows_a):
        return [], alignment
    shared_a, shared_b = take(a, alignment.rows_a), take(b, alignment.rows_b)
    point_a = suite.sample_metrics(dataset, condition, shared_a)
    point_b = suite.sample_metrics(dataset, condition, shared_b)
    keys = [k for k in point_a if k in point_b and k in wanted
            and np.isfinite(point_a[k]) and np.isfinite(point_b[k])]
    if not keys:
        return [], alignment
    n = len(alignment.rows_a)
    rng = np.random.default_rng(seed)
    differences = np.empty((resamples, len(keys)))
    for r in range(resamples):
        index = rng.integers(0, n, n)
        metrics_a = suite.sample_metrics(dataset, condition, take(shared_a, index))
        metrics_b = suite.sample_metrics(dataset, condition, take(shared_b, index))
        # a resample may lack a subset's samples (an ImageNet-X factor): undefined there, not an error
        differences[r] = [metrics_a.get(k, np.nan) - metrics_b.get(k, np.nan) for k in keys]
    tail = (1 - CI_LEVEL) / 2 * 100
    with np.errstate(all="ignore"):
        low, high = np.nanpercentile(differences, [tail, 100 - tail], axis=0)
    hits_a, hits_b = suite.sample_hits(dataset, condition, shared_a), suite.sample_hits(dataset, condition, shared_b)
    tests = []
    for k, key in enumerate(keys):
        mcnemar = mcnemar_exact(hits_a[key], hits_b[key]) if key in hits_a and key in hits_b else None
        p_mcnemar, only_a, only_b = mcnemar if mcnemar else (None, None, None)
        tests.append(PairedTest(
            suite=suite.name, dataset=dataset, condition=condition, subset=key[0], metric=key[1],
            model_a=names[0], model_b=names[1], n=n, value_a=point_a[key], value_b=point_b[key],
            difference=point_a[key] - point_b[key], ci_low=float(low[k]), ci_high=float(high[k]),
            p_bootstrap=bootstrap_p(point_a[key] - point_b[key], differences[:, k]),
            p_mcnemar=p_mcnemar, only_a_right=only_a, only_b_right=only_b,
        ))
    return tests, alignment


def holm(tests: list[PairedTest]) -> list[PairedTest]:
    """The tests with Holm-adjusted p (family = all given tests), in the order given."""
    order = sorted(range(len(tests)), key=lambda i: (not np.isfinite(tests[i].p), tests[i].p))
    m = sum(np.isfinite(t.p) for t in tests)
    adjusted = [float("nan")] * len(tests)
    running = 0.0
    for rank, i in enumerate(order):
        if not np.isfinite(tests[i].p):
            continue
        running = max(running, min(1.0, (m - rank) * tests[i].p))
        adjusted[i] = running
    return [replace(t, p_adjusted=p) for t, p in zip(tests, adjusted)]

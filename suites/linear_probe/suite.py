"""Transfer by linear probing, few-shot probes and retrieval, on frozen features.

Features: the model's penultimate / pooled embedding (CLIP: the image embedding), computed once
and cached in the store like predictions (request output "features"). Datasets: the built-in
``digits`` (scikit-learn's real handwritten-digit scans), ``transfer`` (your own, ``--data
transfer=PATH``) and ``vtab-1k`` (the release folder; every one of the 19 tasks found in it is
scored as its own task, subset = the task); readers and layouts in ``auditkit.data.transfer``.
Records: condition ``none`` (features of the plain images); subset ``all`` for a one-task dataset,
the task's name in vtab-1k, ``k=<shots>`` for few-shot probes (``<task>/k=<shots>`` in vtab-1k).
Per-sample arrays (``label``, ``split``, ``task``, ``probe_prediction``) under (dataset, none):
each task's probe ``top1`` is the mean of ``probe_hits`` over them, in ``evaluate`` and in
``sample_metrics`` alike.

Linear probe (VTAB, Zhai et al. 2019, linear evaluation; the regularisation sweep of CLIP's
linear probes, Radford et al. 2021, App. A.3):
- features centred on the train mean and divided by one scale, their root mean square (ours: one
  C grid then suits every model's feature scale; isotropic, so no dimension is inflated);
- L2-regularised multinomial logistic regression (scikit-learn, L-BFGS, up to 1000 iterations);
- the inverse regularisation C chosen by top-1 on the val split: 13 values 1e-6 .. 1e6, then 9
  values over the decade on either side of the best (ties: the middle of the tied values). A
  task without a val split holds out a seeded, stratified 20 % of train;
- refit on train + val at that C, scored on test: ``top1`` with a 95 % bootstrap CI over test
  images. ``probe_c`` records the chosen C. ``vtab-1k``: ``top1_mean`` over the tasks that ran
  (the paper's VTAB average: 67.8 / 71.0 / 72.2 / 72.2, ViT-sup / ConvNeXt-sup / ViT-CLIP /
  ConvNeXt-CLIP, on all 19 tasks; a notice says when fewer ran).
Few-shot (subset ``k=<k>``, in vtab-1k ``<task>/k=<k>``): k in {1, 5, 10, 25} images per class drawn from the
train split with seeds 0..4; C chosen on those k images per class ONLY, by stratified
cross-validation with min(k, 3) folds over 7 values 1e-6, 1e-4, ..., 1e6 (accuracy pooled over
the folds, ties: the middle; 3 folds and every other decade keep the 315 extra fits of a task
affordable on a CPU); at k = 1 nothing can be held out, so C is fixed at 1 (scikit-learn's
default). Neither the val split nor the full probe's C is used: a C
tuned on the full val split would give the k-shot probe more labels than k per class (the leak of
CLIP_benchmark issue 125). Refit on the k images, scored on the whole test split; value = mean
over seeds, CI = Student-t 95 % interval over the seeds; ``few_shot_c`` records the median C.
Retrieval (metric ``retrieval_map``, ``retrieval_top1``): each test image queries the train + val
gallery by cosine similarity of L2-normalised features; relevant = same class; mean average
precision, and the nearest neighbour's accuracy, with bootstrap CIs over queries. A task laid out
as ``query/`` + ``gallery/`` folders gets these two metrics only (its queries vs its gallery).
Landmark retrieval (``roxford5k``, ``rparis6k``; Radenović et al. 2018, the revisitop code):
each query (its image cropped to the given box) ranks the database by cosine similarity;
``map_easy`` / ``map_medium`` / ``map_hard`` = mean over queries of revisitop's average
precision (trapezoidal, junk images removed from the ranking) with positives easy / easy + hard /
hard and junk junk + hard / junk / junk + easy; queries without positives are left out; bootstrap
CIs over queries. Deviation: images pass through the model's own preprocessing (short-side resize
and centre crop at its input size), not the protocol's full-resolution, uncropped images, so the
numbers sit below published ones and compare models only with each other.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np
from scipy import stats

from auditkit.data.splits import stratified_holdout, stratified_sample
from auditkit.data.transfer import VTAB_TASKS, split_of, task_of

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression

    from auditkit.data.landmarks import GroundTruth
from auditkit.records import ALL, Notice, Skipped
from auditkit.stats import bootstrap_ci
from auditkit.suite import Metric, PredictionRequest, Predictions, Suite, SuiteFigure, SuiteOutput

COARSE_C = np.logspace(-6, 6, 13)
FINE_STEPS = 9
MAX_ITER = 1000
HELD_OUT_FRACTION = 0.2
SHOTS = (1, 5, 10, 25)
FEW_SHOT_SEEDS = (0, 1, 2, 3, 4)
FEW_SHOT_FOLDS = 3
FEW_SHOT_C = COARSE_C[::2]  # 1e-6, 1e-4, ..., 1e6
FEW_SHOT_UNTUNED_C = 1.0  # one image per class: nothing to hold out, scikit-learn's default


@dataclass(frozen=True)
class ProbeResult:
    c: float
    validation_top1: dict[float, float]  # every C tried -> val top-1
    test_prediction: np.ndarray
    test_top1: float


def fit_probe(features: np.ndarray, labels: np.ndarray, c: float) -> LogisticRegression:
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    classifier = LogisticRegression(C=c, max_iter=MAX_ITER, tol=1e-4)
    # One BLAS thread: on these small problems (about 1000 x 1280) threads cost more than they
    # give, badly so on a shared CPU (measured on digits: 22 s per fit with OpenBLAS's default
    # threads next to another job, 1.6 s with one).
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        # at the weakest regularisation L-BFGS may stop at max_iter; that C then simply scores lower
        warnings.simplefilter("ignore")
        classifier.fit(features, labels)
    return classifier


def standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Centre on the train mean and divide by ONE scale (the train features' root mean square),
    so a single C grid suits every model. Isotropic on purpose: a per-dimension z-score on a few
    hundred (or, few-shot, ten) images blows noise dimensions up to the size of the signal ones."""
    mean = train.mean(axis=0)
    scale = float(np.sqrt(np.mean((train - mean) ** 2))) or 1.0
    return [(x - mean) / scale for x in (train, *others)]


def choose_c(train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray) -> tuple[float, dict[float, float]]:
    """The C with the best val top-1: a coarse log grid, then a fine one around its best."""
    train_x, val_x = standardise(train_x, val_x)
    scores: dict[float, float] = {}

    def sweep(grid: np.ndarray) -> None:
        for c in grid:
            c = float(c)
            if c not in scores:
                scores[c] = float((fit_probe(train_x, train_y, c).predict(val_x) == val_y).mean())

    sweep(COARSE_C)
    best = _best(scores)
    sweep(np.logspace(np.log10(best) - 1, np.log10(best) + 1, FINE_STEPS))
    return _best(scores), scores


def _best(scores: dict[float, float]) -> float:
    """The best-scoring C; among ties the middle one (on a log grid, the centre of the plateau:
    the extreme ends of a saturated val score are the least trustworthy)."""
    top = max(scores.values())
    tied = sorted(c for c, score in scores.items() if score == top)
    return tied[(len(tied) - 1) // 2]


def linear_probe(
    train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray,
    test_x: np.ndarray, test_y: np.ndarray,
) -> ProbeResult:
    """Choose C on val, refit on train + val, score on test."""
    c, scores = choose_c(train_x, train_y, val_x, val_y)
    fit_x, fit_y = np.concatenate([train_x, val_x]), np.concatenate([train_y, val_y])
    fit_x, test_x = standardise(fit_x, test_x)
    prediction = fit_probe(fit_x, fit_y, c).predict(test_x)
    return ProbeResult(c, scores, prediction, float((prediction == test_y).mean()))


def few_shot_c(x: np.ndarray, y: np.ndarray, seed: int) -> float:
    """C for a few-shot probe from its own training images only (never a val split): stratified
    cross-validation with min(k, 3) folds over ``FEW_SHOT_C``, accuracy pooled over the folds,
    ties broken to the middle; ``FEW_SHOT_UNTUNED_C`` when a class has a single image."""
    from sklearn.model_selection import StratifiedKFold

    folds = min(FEW_SHOT_FOLDS, int(np.unique(y, return_counts=True)[1].min()))
    if folds < 2:
        return FEW_SHOT_UNTUNED_C
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y))
    scores: dict[float, float] = {}
    for c in FEW_SHOT_C:
        correct = 0
        for fit, held in splits:
            fit_x, held_x = standardise(x[fit], x[held])  # scaled on the fold's own training part
            correct += int((fit_probe(fit_x, y[fit], float(c)).predict(held_x) == y[held]).sum())
        scores[float(c)] = correct / len(y)
    return _best(scores)


def few_shot_probe(x: np.ndarray, y: np.ndarray, test_x: np.ndarray, seed: int) -> tuple[np.ndarray, float]:
    """Test predictions of a probe fitted on the k-shot images (x, y) at a C chosen on them."""
    c = few_shot_c(x, y, seed)
    fit_x, test_x = standardise(x, test_x)
    return fit_probe(fit_x, y, c).predict(test_x), c


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def average_precisions(query_x: np.ndarray, query_y: np.ndarray, gallery_x: np.ndarray, gallery_y: np.ndarray) -> np.ndarray:
    """Per query: average precision of the gallery ranked by cosine similarity, relevant = same
    label (queries with no relevant gallery image get NaN)."""
    q, g = unit_rows(query_x), unit_rows(gallery_x)
    result = np.full(len(q), np.nan)
    for start in range(0, len(q), 1024):
        similarity = q[start:start + 1024] @ g.T
        order = np.argsort(-similarity, axis=1, kind="stable")
        relevant = gallery_y[order] == query_y[start:start + 1024, None]
        hits = np.cumsum(relevant, axis=1)
        ranks = np.arange(1, g.shape[0] + 1)
        total = relevant.sum(axis=1)
        precision_sum = np.where(relevant, hits / ranks, 0.0).sum(axis=1)
        result[start:start + 1024] = np.where(total > 0, precision_sum / np.maximum(total, 1), np.nan)
    return result


def nearest_neighbour(query_x: np.ndarray, gallery_x: np.ndarray) -> np.ndarray:
    """Index of each query's most cosine-similar gallery image."""
    q, g = unit_rows(query_x), unit_rows(gallery_x)
    return np.concatenate([np.argmax(q[s:s + 1024] @ g.T, axis=1) for s in range(0, len(q), 1024)])


def revisited_protocol(truth: GroundTruth, query: int, protocol: str) -> tuple[list[int], list[int]]:
    """(positives, junk) database indices of one query under the easy / medium / hard protocol."""
    easy, hard, junk = truth.easy[query], truth.hard[query], truth.junk[query]
    return {"easy": (easy, junk + hard), "medium": (easy + hard, junk), "hard": (hard, junk + easy)}[protocol]


def revisited_average_precision(order: np.ndarray, positives: list[int], junk: list[int]) -> float:
    """revisitop's ``compute_ap`` for one query: ``order`` = database indices by decreasing
    similarity; junk images are taken out of the ranking; trapezoidal precision between
    consecutive recall steps (precision just before and at each positive)."""
    rank_of = np.empty(len(order), dtype=np.int64)
    rank_of[order] = np.arange(len(order))
    ranks = np.sort(rank_of[positives])
    ranks = ranks - np.searchsorted(np.sort(rank_of[junk]) if junk else np.array([], np.int64), ranks)
    total = 0.0
    for found, rank in enumerate(ranks):
        before = 1.0 if rank == 0 else found / rank
        at = (found + 1) / (rank + 1)
        total += (before + at) / 2
    return total / len(positives)


def task_subset(task: str, dataset: str) -> str:
    """The subset of a task's records: ``all`` when the dataset is one task, else the task."""
    return ALL if task == dataset else task


def probe_hits(arrays: Mapping[str, np.ndarray], dataset: str) -> dict[str, np.ndarray]:
    """Per task subset whose probe ran: right or wrong on each of its test images, from the
    per-sample arrays (``probe_prediction`` is -1 where no probe answered). The mean is the
    task's probe ``top1``."""
    answered = (arrays["split"] == "test") & (arrays["probe_prediction"] >= 0)
    hits = {}
    for task in np.unique(arrays["task"][answered]):
        rows = answered & (arrays["task"] == task)
        hits[task_subset(str(task), dataset)] = arrays["probe_prediction"][rows] == arrays["label"][rows]
    return hits


def t_interval(values: np.ndarray) -> tuple[float | None, float | None]:
    if len(values) < 2:
        return None, None
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


class LinearProbeSuite(Suite):
    name = "linear_probe"
    version = "0.2"  # 0.2: few-shot C chosen on the k-shot train images (was: the full probe's, from val)
    description = "linear-probe transfer (C chosen on val), few-shot probes, retrieval mAP on frozen features"
    datasets = ("digits", "transfer", "vtab-1k", "roxford5k", "rparis6k")
    title = "Linear probe"
    metrics = {
        "top1": Metric("top-1 accuracy", "test accuracy of an L2 logistic regression on the frozen features "
                       "(few-shot: k training images per class, mean of 5 draws; higher is better)", True),
        "top1_mean": Metric("mean top-1", "mean of the VTAB-1k tasks' probe top-1 (higher is better)", True),
        "probe_c": Metric("probe C", "the inverse L2 strength chosen on val from the 1e-6 ... 1e6 sweep"),
        "few_shot_c": Metric("few-shot C", "median over the draws of the inverse L2 strength chosen by "
                             "cross-validation on the k-shot training images alone (1 at k = 1)"),
        "retrieval_map": Metric("retrieval mAP", "mean average precision of test queries against the train + val "
                                "gallery by cosine similarity, same class relevant (higher is better)", True),
        "retrieval_top1": Metric("retrieval top-1", "share of queries whose nearest gallery image has their class "
                                 "(higher is better)", True),
        "map_easy": Metric("mAP (easy)", "revisitop mean average precision, easy protocol (higher is better)", True),
        "map_medium": Metric("mAP (medium)", "revisitop mean average precision, medium protocol (higher is better)", True),
        "map_hard": Metric("mAP (hard)", "revisitop mean average precision, hard protocol (higher is better)", True),
    }
    better = {"top1": "higher", "top1_mean": "higher", "retrieval_map": "higher", "retrieval_top1": "higher",
              "map_easy": "higher", "map_medium": "higher", "map_hard": "higher"}
    accepts = ("features",)

    def sample_hits(
        self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]
    ) -> dict[tuple[str, str], np.ndarray]:
        """Each task's probe hits on its test images (``probe_hits``): the mean is its ``top1``."""
        if not {"label", "split", "task", "probe_prediction"} <= set(arrays):
            return {}
        return {(subset, "top1"): hits for subset, hits in probe_hits(arrays, dataset).items()}

    def sample_metrics(
        self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]
    ) -> dict[tuple[str, str], float]:
        """The probes' ``top1`` per task subset and, over several tasks (vtab-1k), their
        ``top1_mean`` (few-shot and retrieval values are not per sample)."""
        metrics = {key: float(hits.mean()) for key, hits in self.sample_hits(dataset, condition, arrays).items()}
        tasks = [value for (subset, _), value in metrics.items() if subset != ALL]
        if tasks:
            metrics[(ALL, "top1_mean")] = float(np.mean(tasks))
        return metrics

    def requests(self) -> list[PredictionRequest]:
        return [PredictionRequest(dataset, output="features") for dataset in self.datasets]

    def evaluate(
        self, model: str, predictions: dict[PredictionRequest, Predictions], seed: int
    ) -> SuiteOutput:
        from suites.linear_probe.plots import few_shot_curves, transfer_bars

        output = SuiteOutput()
        task_top1: dict[str, float] = {}
        curves: dict[str, list[tuple[int, float, float | None, float | None]]] = {}
        for request, prediction in predictions.items():
            dataset = request.dataset
            samples = prediction.source.samples
            if prediction.source.info.get("task") == "landmark-retrieval":
                self._landmarks(model, dataset, prediction, seed, output)
                continue
            split = np.array([split_of(s) for s in samples])
            task = np.array([task_of(s, dataset) for s in samples])
            x, y = prediction.features.astype(np.float64), prediction.labels
            probe_prediction = np.full(len(y), -1)
            vtab_top1 = []
            for name in sorted(set(task)):
                rows = np.flatnonzero(task == name)
                # vtab-1k: subset = the task; elsewhere "all"
                subset = task_subset(name, dataset)
                result = self._task(model, dataset, subset, x[rows], y[rows], split[rows], seed, output)
                if result is None:
                    continue
                top1, test_prediction, curve = result
                probe_prediction[rows[split[rows] == "test"]] = test_prediction
                label = name if name == dataset else f"{dataset}/{name}"
                task_top1[label], curves[label] = top1, curve
                if name != dataset:
                    vtab_top1.append(top1)
            arrays = {"label": y, "split": split, "task": task, "probe_prediction": probe_prediction}
            # each task's probe top-1 (and vtab-1k's mean over tasks) from the per-sample arrays
            metrics = self.sample_metrics(dataset, "none", arrays)
            for subset, hits in probe_hits(arrays, dataset).items():
                output.records.append(self.record(
                    model, dataset=dataset, subset=subset, metric="top1", value=metrics[(subset, "top1")],
                    ci=bootstrap_ci(np.mean, hits.astype(float), seed=seed), n=len(hits)))
            if (ALL, "top1_mean") in metrics:
                output.records.append(self.record(model, dataset=dataset, metric="top1_mean",
                                                  value=metrics[(ALL, "top1_mean")], n=len(vtab_top1)))
                if len(vtab_top1) < len(VTAB_TASKS):
                    output.notices.append(Notice(self.name, dataset, (
                        f"{len(vtab_top1)} of the {len(VTAB_TASKS)} VTAB-1k tasks ran; top1_mean is their mean, "
                        "not the paper's 19-task average")))
            if metrics:  # a probe ran: the arrays reproduce its top-1 (else they would reproduce nothing)
                output.add_samples(prediction, arrays, dataset=dataset, condition="none")
        if task_top1:
            output.figures.append(SuiteFigure(
                "all-tasks", "transfer", transfer_bars(model, task_top1),
                "Linear-probe top-1 on each task's test split (C chosen on val, refit on train + val).",
            ))
            output.figures.append(SuiteFigure(
                "all-tasks", "few_shot", few_shot_curves(model, curves, task_top1),
                f"Few-shot linear probes: top-1 vs images per class (mean over {len(FEW_SHOT_SEEDS)} draws, "
                "95 % t-interval); dashed: the full probe.",
            ))
        return output

    def _task(
        self, model: str, dataset: str, subset: str, x: np.ndarray, y: np.ndarray, split: np.ndarray, seed: int,
        output: SuiteOutput,
    ) -> tuple[float, np.ndarray, list[tuple[int, float, float | None, float | None]]] | None:
        """Probe C, few-shot probes and retrieval of one task (subset ``all`` or the vtab-1k task);
        the probe's test predictions are returned, its ``top1`` is recorded from the per-sample
        arrays by ``evaluate``."""

        def record(metric: str, value: float, low: float | None, high: float | None, n: int,
                   within: str = ALL) -> None:
            # a vtab-1k task's groups carry its name: "<task>/k=5"
            name = subset if within == ALL else (within if subset == ALL else f"{subset}/{within}")
            output.records.append(self.record(model, dataset=dataset, subset=name, metric=metric, value=value,
                                              ci=None if low is None or high is None else (low, high), n=n))

        where = dataset if subset == ALL else f"{dataset} {subset}"
        train, val, test = (split == "train"), (split == "val"), (split == "test")
        query, gallery = (split == "query"), (split == "gallery")
        if not (train.any() and test.any()):
            if query.any() and gallery.any():
                self._retrieval(record, x, y, query, gallery, seed)
                return None  # a retrieval-only task: no probe
            present = ", ".join(f"{name} {int((split == name).sum())}" for name in ("train", "val", "test"))
            output.skipped.append(Skipped(self.name, dataset, f"{where}: needs train and test images, has "
                                          f"{present} (did --limit cut a split? raise it or drop it)"))
            return None
        if len(np.unique(y[train])) < 2:
            output.skipped.append(Skipped(self.name, dataset, f"{where}: the train images hold one class only "
                                          "(did --limit cut the split? raise it or drop it)"))
            return None
        if not val.any():
            held = stratified_holdout(y[train], HELD_OUT_FRACTION, seed)
            val = np.zeros_like(train)
            val[np.flatnonzero(train)[held]] = True
            train = train & ~val
            output.notices.append(Notice(self.name, dataset, f"{where}: no val split; C chosen on a held-out "
                                         f"{HELD_OUT_FRACTION:.0%} of train (stratified, seed {seed})"))
        probe = linear_probe(x[train], y[train], x[val], y[val], x[test], y[test])
        record("probe_c", probe.c, None, None, int(train.sum() + val.sum()))

        # few-shot: images and C from the train split only; the val split (and the full
        # probe's C, tuned on it) never enters, so a k-shot probe sees k labels per class
        curve = []
        for shots in SHOTS:
            scores, chosen_c, sizes = [], [], []
            for shot_seed in FEW_SHOT_SEEDS:
                chosen = np.flatnonzero(train)[stratified_sample(y[train], shot_seed, shots=shots)]
                if len(np.unique(y[chosen])) < 2:
                    scores.append(np.nan)
                    continue
                predicted, c = few_shot_probe(x[chosen], y[chosen], x[test], shot_seed)
                scores.append(float((predicted == y[test]).mean()))
                chosen_c.append(c)
                sizes.append(len(chosen))
            values = np.array(scores)
            low, high = t_interval(values)
            record("top1", float(values.mean()), low, high, int(test.sum()), within=f"k={shots}")
            if chosen_c:
                record("few_shot_c", float(np.median(chosen_c)), None, None, int(np.median(sizes)),
                       within=f"k={shots}")
            curve.append((shots, float(values.mean()), low, high))

        pool = train | val
        self._retrieval(record, x, y, test, pool, seed)
        return probe.test_top1, probe.test_prediction, curve

    def _landmarks(self, model: str, dataset: str, prediction: Predictions, seed: int, output: SuiteOutput) -> None:
        from auditkit.data.landmarks import read_ground_truth

        truth = read_ground_truth(prediction.source.root, dataset)
        ids = [s.sample_id for s in prediction.source.samples]
        row = {sample_id: k for k, sample_id in enumerate(ids)}
        gallery = [row.get(f"gallery/{name}") for name in truth.database]
        queries = {int(i.split("/", 1)[1].split("-", 1)[0]): k for i, k in row.items() if i.startswith("query/")}
        if any(g is None for g in gallery) or not queries:
            output.skipped.append(Skipped(self.name, dataset, "needs the whole database and the queries "
                                          "(did --limit cut them?)"))
            return
        features = np.asarray(prediction.features, dtype=np.float64)
        order = np.argsort(-(unit_rows(features[[queries[q] for q in sorted(queries)]])
                             @ unit_rows(features[gallery]).T), axis=1, kind="stable")
        for protocol in ("easy", "medium", "hard"):
            scores = []
            for position, q in enumerate(sorted(queries)):
                positives, junk = revisited_protocol(truth, q, protocol)
                if positives:
                    scores.append(revisited_average_precision(order[position], positives, junk))
            values = np.array(scores)
            output.records.append(self.record(model, dataset=dataset, metric=f"map_{protocol}",
                                              value=float(values.mean()), ci=bootstrap_ci(np.mean, values, seed=seed),
                                              n=len(values)))

    @staticmethod
    def _retrieval(record: Callable[..., None], x: np.ndarray, y: np.ndarray, query: np.ndarray,
                   gallery: np.ndarray, seed: int) -> None:
        ap = average_precisions(x[query], y[query], x[gallery], y[gallery])
        answered = ~np.isnan(ap)
        record("retrieval_map", float(ap[answered].mean()), *bootstrap_ci(np.mean, ap[answered], seed=seed),
               int(answered.sum()))
        neighbour = y[gallery][nearest_neighbour(x[query], x[gallery])] == y[query]
        record("retrieval_top1", float(neighbour.mean()),
               *bootstrap_ci(np.mean, neighbour.astype(float), seed=seed), int(query.sum()))

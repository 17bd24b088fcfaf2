"""OOD detection: can a score computed from the model's own outputs tell ImageNet images from
images of classes it was never trained on?

Protocol (OpenOOD v1.5, Zhang et al. 2023, "OpenOOD v1.5: Enhanced Benchmark for
Out-of-Distribution Detection"; github.com/Jingkang50/OpenOOD, ImageNet-1K track;
docs/suites/ood.md):
- ID: ImageNet val split by OpenOOD's lists: ``openood-imagenet-val`` (its ``val_imagenet``,
  5,000 images) for everything fitted, ``openood-imagenet-test`` (``test_imagenet``, 45,000) as
  the ID side of every score. Near-OOD: ``ssb-hard``, ``ninco``; far-OOD: ``inaturalist-ood``,
  ``textures``, ``openimage-o`` (OpenOOD's lists, auditkit/data/ood_lists). Preprocessing: the
  model's (OpenOOD: Resize 256 bilinear + CenterCrop 224, the ``paper`` preprocess).
- Scores (``suites/ood/metrics.py``), higher = more ID: MSP, MaxLogit, Energy (logsumexp, T = 1),
  TempScale (MSP of logits / T; T fitted as OpenOOD does: T0 = 1.5, LBFGS lr 0.01, 50
  iterations, mean NLL on ``openood-imagenet-val``; T is a record, ``temperature`` at that
  dataset, and in the run header), GEN (gamma 0.1, M 100), KNN (features L2-normalised, minus the
  squared distance to the K-th nearest, K = 50 as OpenOOD's config).
- Metrics per OOD set, OOD positive as OpenOOD's ``evaluators/metrics.py``: ``auroc``,
  ``aupr_in``, ``aupr_out``, and FPR@95 in both conventions, each named:
  ``fpr95_ood_detected`` (OpenOOD's: ID flagged when 95 % of OOD is flagged) and
  ``fpr95_id_kept`` (Liang et al. / Hendrycks': OOD accepted when 95 % of ID is kept). Records:
  metric ``<method>_<measure>`` (``msp_auroc``) at the OOD set; ``near-ood`` / ``far-ood`` hold
  the unweighted means over the sets present (OpenOOD's near / far), with the sets named in the
  run header.
- ImageNet-O, Hendrycks' protocol (Hendrycks et al. 2021, natural-adv-examples): logits masked to
  its 200 classes before every score, ID = the val images (fit and test lists together, i.e. all
  of val) of those classes, ``aupr_ood_ap`` = average precision with OOD positive; records at
  dataset ``imagenet-o``, never mixed into near / far.
- 95 % percentile bootstrap CIs over images (ID and OOD rows resampled together, 1000, seeded).
Per-sample files (paired tests in compare): per OOD set, the ID test rows then the set's rows,
``is_ood`` and ``score_<method>``; ``near-ood`` / ``far-ood`` add ``ood_group`` (0 = ID, k = the
k-th set). ``sample_metrics`` recomputes every record from them.
Refused: an OOD set sharing images (same content sha1) with the ID sets (the count is named), or
the fit and test ID sets sharing images; an empty OOD set is refused by its reader.
Differences from OpenOOD: KNN's bank is the 5,000 ID val images (OpenOOD: ImageNet train, which
no ImageNet user has beside val); curves keep every threshold (OpenOOD's ``roc_curve`` drops
collinear points, which moves FPR@95 only inside runs of tied ID and OOD scores); no method is
tuned on OOD-val (``openimage-o-val`` is readable, unused). ReAct needs the classifier head, which
the suite never sees; KNN is the feature method.
Reference (OpenOOD v1.5 leaderboard, ResNet-50 torchvision, near / far AUROC): MSP 76.02 / 85.23,
TempScale 77.14 / 87.56, Energy 75.89 / 89.47, MaxLogit 76.46 / 89.57, GEN 76.85 / 89.76, KNN
71.10 / 90.18.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from auditkit.data.ood import imagenet_o_classes
from auditkit.errors import AuditError
from auditkit.records import ALL, MetricRecord, Notice, Skipped
from auditkit.stats import bootstrap_intervals
from auditkit.suite import Metric, PredictionRequest, Predictions, Suite, SuiteFigure, SuiteOption, SuiteOutput
from suites.ood.metrics import (
    FEATURE_METHODS, IMAGENET_O_MEASURES, KNN_K, LOGIT_METHODS, MEASURES, RankedScores, detection_metrics,
    fit_temperature, knn_scores, logit_scores, measure_vector, nll_optimal_temperature,
)

IMAGENET_O = "imagenet-o"
GROUPS = {"near": "near-ood", "far": "far-ood"}

MEASURE_WORDS = {
    "auroc": ("AUROC", "area under the ROC curve of OOD (positive) against ID images (0.5 = chance; higher is better)"),
    "aupr_in": ("AUPR-In", "area under the precision-recall curve with ID as positive (higher is better)"),
    "aupr_out": ("AUPR-Out", "area under the precision-recall curve with OOD as positive (higher is better)"),
    "fpr95_ood_detected": ("FPR@95 (OOD detected)", "OpenOOD's FPR@95: share of ID images flagged as OOD at the "
                           "threshold that flags 95 % of OOD images (lower is better)"),
    "fpr95_id_kept": ("FPR@95 (ID kept)", "share of OOD images accepted as ID at the threshold that keeps 95 % of "
                      "ID images (Liang et al. 2018; lower is better)"),
    "aupr_ood_ap": ("AUPR (Hendrycks, ImageNet-O)", "ImageNet-O under Hendrycks' protocol: average precision with OOD "
                    "positive, logits masked to its 200 classes (higher is better)"),
}
METHOD_WORDS = {"msp": "MSP", "maxlogit": "MaxLogit", "energy": "Energy", "tempscale": "TempScale", "gen": "GEN",
                "knn": "KNN"}


def _metric_table() -> dict[str, Metric]:
    table = {"temperature": Metric("temperature T", "TempScale's T fitted by NLL on the ID val set (OpenOOD: T0 1.5, "
                                   "LBFGS lr 0.01, 50 iterations)")}
    for method, words in METHOD_WORDS.items():
        for measure, (label, definition) in MEASURE_WORDS.items():
            table[f"{method}_{measure}"] = Metric(f"{words} {label}", f"{words} score: {definition}", True)
    return table


def _names(text: object) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n.strip() for n in str(text or "").split(",") if n.strip()))


class OodSuite(Suite):
    name = "ood"
    version = "1.0"
    title = "OOD detection"
    description = ("OpenOOD v1.5 ImageNet-1K OOD detection: MSP, MaxLogit, Energy, TempScale, GEN, KNN; AUROC, "
                   "AUPR-In/Out, FPR@95 (both conventions); near/far; ImageNet-O (Hendrycks)")
    datasets = ("openood-imagenet-val", "openood-imagenet-test", "ssb-hard", "ninco", "inaturalist-ood", "textures",
                "openimage-o", IMAGENET_O)
    metrics = _metric_table()
    better = {name: ("lower" if "fpr95" in name else "higher") for name in metrics if name != "temperature"}
    # logits for every score, features for KNN (a second request per set)
    accepts = ("logits", "features")
    options = (
        SuiteOption("id_val", str, (), "openood-imagenet-val", help="ID dataset T and the KNN bank are fitted on"),
        SuiteOption("id_test", str, (), "openood-imagenet-test", help="ID dataset every OOD set is scored against"),
        SuiteOption("near", str, (), "ssb-hard,ninco", help="near-OOD datasets, comma-separated (may be empty)"),
        SuiteOption("far", str, (), "inaturalist-ood,textures,openimage-o", help="far-OOD datasets, comma-separated"),
        SuiteOption("imagenet_o", bool, (), True, help="also score ImageNet-O under Hendrycks' protocol"),
        SuiteOption("knn", bool, (), True, help="KNN on features (a second forward pass of every set)"),
        SuiteOption("knn_k", int, (), KNN_K, help="K of KNN (OpenOOD: 50)"),
    )
    citations = (
        """@article{zhang2023openood,
  title = {{OpenOOD} v1.5: Enhanced Benchmark for Out-of-Distribution Detection},
  author = {Zhang, Jingyang and Yang, Jingkang and Wang, Pengyun and Wang, Haoqi and Lin, Yueqian and Zhang, Haoran and Sun, Yiyou and Du, Xuefeng and Li, Yixuan and Liu, Ziwei and Chen, Yiran and Li, Hai},
  journal = {arXiv preprint arXiv:2306.09301},
  year = {2023}
}""",
        """@inproceedings{hendrycks2017baseline,
  title = {A Baseline for Detecting Misclassified and Out-of-Distribution Examples in Neural Networks},
  author = {Hendrycks, Dan and Gimpel, Kevin},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year = {2017}
}""",
        """@inproceedings{sun2022knn,
  title = {Out-of-Distribution Detection with Deep Nearest Neighbors},
  author = {Sun, Yiyou and Ming, Yifei and Zhu, Xiaojin and Li, Yixuan},
  booktitle = {International Conference on Machine Learning (ICML)},
  year = {2022}
}""",
    )

    # --- what is asked ---------------------------------------------------------------------------
    def roles(self) -> dict[str, tuple[str, ...]]:
        """Dataset names by role this run (options), OOD sets never repeated across groups."""
        near = _names(self.setting("near"))
        far = tuple(n for n in _names(self.setting("far")) if n not in near)
        return {"id_val": (str(self.setting("id_val")),), "id_test": (str(self.setting("id_test")),),
                "near": near, "far": far, "imagenet_o": (IMAGENET_O,) if self.setting("imagenet_o") else ()}

    def requests(self) -> list[PredictionRequest]:
        names = dict.fromkeys(n for group in self.roles().values() for n in group)
        wanted = [PredictionRequest(n) for n in names]
        if self.setting("knn"):
            wanted += [PredictionRequest(n, output="features") for n in names if n != IMAGENET_O]
        return wanted

    def headline(self, record: MetricRecord) -> bool:
        """OpenOOD's leaderboard numbers: every method's AUROC and FPR@95 (OpenOOD's convention)
        on near-OOD, far-OOD and ImageNet-O, and the fitted T; per-set values are in the section."""
        if record.metric == "temperature":
            return True
        return (record.dataset in (*GROUPS.values(), IMAGENET_O)
                and record.metric.endswith(("_auroc", "_fpr95_ood_detected")) and super().headline(record))

    # --- per-sample arrays -> metrics (records and compare use this one path) ---------------------
    def sample_hits(self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]) -> dict:
        return {}  # no metric here is a mean of per-image hits

    def sample_metrics(self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], float]:
        if "is_ood" not in arrays:
            return {}
        values = self._vector(dataset, arrays)(None)
        return {(ALL, name): float(v) for name, v in zip(self._names(dataset, arrays), values)}

    def _methods(self, arrays: Mapping[str, np.ndarray]) -> tuple[str, ...]:
        return tuple(m for m in (*LOGIT_METHODS, *FEATURE_METHODS) if f"score_{m}" in arrays)

    def _names(self, dataset: str, arrays: Mapping[str, np.ndarray]) -> list[str]:
        measures = IMAGENET_O_MEASURES if dataset == IMAGENET_O else MEASURES
        return [f"{m}_{x}" for m in self._methods(arrays) for x in measures]

    def _vector(self, dataset: str, arrays: Mapping[str, np.ndarray]):
        """weights -> the record values of one per-sample file, in ``_names`` order."""
        measures = IMAGENET_O_MEASURES if dataset == IMAGENET_O else MEASURES
        is_ood = np.asarray(arrays["is_ood"], dtype=bool)
        methods = self._methods(arrays)
        if "ood_group" not in arrays:
            return measure_vector({m: RankedScores.of(arrays[f"score_{m}"], is_ood) for m in methods}, measures)
        group = np.asarray(arrays["ood_group"])
        per_set = []
        for k in sorted(set(group[is_ood].tolist())):
            rows = np.flatnonzero((group == 0) | (group == k))
            vector = measure_vector({m: RankedScores.of(arrays[f"score_{m}"][rows], is_ood[rows]) for m in methods},
                                    measures)
            per_set.append((rows, vector))

        def mean_over_sets(weights: np.ndarray | None) -> np.ndarray:
            return np.mean([vector(None if weights is None else weights[rows]) for rows, vector in per_set], axis=0)
        return mean_over_sets

    # --- the protocol ----------------------------------------------------------------------------
    def evaluate(self, model: str, predictions: dict[PredictionRequest, Predictions], seed: int) -> SuiteOutput:
        from suites.ood.plots import roc_curves, score_histogram

        output = SuiteOutput()
        roles = self.roles()
        (val_name,), (test_name,) = roles["id_val"], roles["id_test"]
        val, test = predictions.get(PredictionRequest(val_name)), predictions.get(PredictionRequest(test_name))
        if val is None or test is None:
            for name in roles["near"] + roles["far"] + roles["imagenet_o"]:
                output.skipped.append(Skipped(self.name, name, f"needs the ID sets {val_name} and {test_name}"))
            return output
        features = {r.dataset: p.features for r, p in predictions.items() if r.output == "features"}
        self._refuse_overlap(val_name, val, {test_name: test})
        ood_sets = {n: predictions[PredictionRequest(n)] for n in roles["near"] + roles["far"] + roles["imagenet_o"]
                    if PredictionRequest(n) in predictions}
        self._refuse_overlap(test_name, test, ood_sets, also=(val_name, val))

        temperature = fit_temperature(val.logits, val.labels)
        output.records.append(self.record(model, dataset=val_name, metric="temperature", value=temperature,
                                          n=len(val.labels)))
        k = int(self.setting("knn_k"))
        bank = features.get(val_name)
        use_knn = bool(self.setting("knn")) and bank is not None
        if use_knn and not 1 <= k <= len(bank):  # the other scores stand; KNN alone is left out, said so
            output.notices.append(Notice(self.name, val_name, f"KNN left out: K = {k} needs at least {k} images in "
                                         f"its bank {val_name}, which has {len(bank)}; set --option ood.knn_k"))
            use_knn = False

        def scores_of(name: str, prediction: Predictions) -> dict[str, np.ndarray]:
            scores = logit_scores(prediction.logits, temperature)
            if use_knn and features.get(name) is not None:
                scores["knn"] = knn_scores(bank, features[name], k)
            return scores

        id_scores = scores_of(test_name, test)
        output.header.update({
            "temperature": {"value": temperature, "fitted_on": val_name, "images": int(len(val.labels)),
                            "init": 1.5, "optimizer": "LBFGS lr 0.01, max_iter 50", "loss": "mean NLL",
                            "nll_optimum": nll_optimal_temperature(val.logits, val.labels)},
            "id": {"fit": val_name, "test": test_name}, "near": list(roles["near"]), "far": list(roles["far"]),
            "knn": {"k": k, "bank": val_name, "images": int(len(bank))} if use_knn else "off",
            "fpr95_conventions": {"fpr95_ood_detected": "OpenOOD (OOD positive, 95 % of OOD detected)",
                                  "fpr95_id_kept": "95 % of ID kept (Liang et al. 2018)"},
        })
        grouped: dict[str, list[str]] = {"near": [], "far": []}
        curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name, prediction in ood_sets.items():
            if name == IMAGENET_O:
                continue
            arrays = self._arrays(test, id_scores, prediction, scores_of(name, prediction))
            self._score(output, model, name, arrays, seed, rows_of=(test, prediction))
            grouped["near" if name in roles["near"] else "far"].append(name)
            curves[name] = (id_scores["msp"], arrays["score_msp"][arrays["is_ood"]])
            output.figures.append(SuiteFigure(name, "score_histogram", score_histogram(
                id_scores["msp"], curves[name][1], "MSP", f"{model}: {test_name} vs {name}"),
                "Max softmax probability of ID test images and of the OOD set's images (density)."))
        for group, names in grouped.items():
            if names:
                self._score_group(output, model, GROUPS[group], names, test, id_scores, ood_sets, scores_of, seed)
        if curves:
            output.figures.append(SuiteFigure(test_name, "roc_msp", roc_curves(curves, f"{model}: MSP, ID = {test_name}"),
                                              "ROC of MSP per OOD set (OOD positive)."))
        if IMAGENET_O in ood_sets:
            self._score_imagenet_o(output, model, val, test, ood_sets[IMAGENET_O], temperature, seed)
        return output

    def _refuse_overlap(self, id_name: str, id_set: Predictions, others: Mapping[str, Predictions],
                        also: tuple[str, Predictions] | None = None) -> None:
        """Same image content on both sides would be scored as ID and OOD at once: refused."""
        held = {str(s) for s in np.asarray(id_set.content_sha1) if str(s)}
        names = id_name
        if also is not None:
            held |= {str(s) for s in np.asarray(also[1].content_sha1) if str(s)}
            names = f"{id_name} / {also[0]}"
        for name, other in others.items():
            shared = sum(str(s) in held for s in np.asarray(other.content_sha1))
            if shared:
                raise AuditError(f"ood: {shared} images of {name} have the same content as images of {names}; "
                                 f"remove them from {name} (an image cannot be both ID and OOD)")

    @staticmethod
    def _arrays(test: Predictions, id_scores: Mapping[str, np.ndarray], ood: Predictions,
                ood_scores: Mapping[str, np.ndarray], group: int | None = None) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {
            "sample_id": np.r_[np.asarray(test.sample_ids).astype(str), np.asarray(ood.sample_ids).astype(str)],
            "content_sha1": np.r_[np.asarray(test.content_sha1).astype(str), np.asarray(ood.content_sha1).astype(str)],
            "is_ood": np.r_[np.zeros(len(test.sample_ids), bool), np.ones(len(ood.sample_ids), bool)],
        }
        for method in id_scores:
            if method in ood_scores:
                arrays[f"score_{method}"] = np.r_[id_scores[method], ood_scores[method]]
        return arrays

    def _score(self, output: SuiteOutput, model: str, dataset: str, arrays: dict[str, np.ndarray], seed: int,
               rows_of: tuple[Predictions, Predictions] | None = None) -> None:
        n = len(arrays["is_ood"])
        vector = self._vector(dataset, arrays)
        values = vector(None)
        low, high = bootstrap_intervals(lambda index: vector(np.bincount(index, minlength=n)), n, seed=seed)
        for i, metric in enumerate(self._names(dataset, arrays)):
            output.records.append(self.record(model, dataset=dataset, metric=metric, value=values[i],
                                              ci=(low[i], high[i]), n=n))
        output.per_sample[(dataset, "none")] = arrays

    def _score_group(self, output: SuiteOutput, model: str, group: str, names: list[str], test: Predictions,
                     id_scores: Mapping[str, np.ndarray], ood_sets: Mapping[str, Predictions], scores_of, seed: int) -> None:
        parts = [self._arrays(test, id_scores, ood_sets[n], scores_of(n, ood_sets[n])) for n in names]
        methods = [key for key in parts[0] if all(key in p for p in parts)]
        arrays = {key: np.r_[parts[0][key], *(p[key][p["is_ood"]] for p in parts[1:])] for key in methods}
        arrays["ood_group"] = np.r_[np.zeros(len(test.sample_ids), np.int64),
                                    *(np.full(int(p["is_ood"].sum()), k + 1) for k, p in enumerate(parts))]
        self._score(output, model, group, arrays, seed)

    def _score_imagenet_o(self, output: SuiteOutput, model: str, val: Predictions, test: Predictions,
                          imagenet_o: Predictions, temperature: float, seed: int) -> None:
        """Hendrycks' protocol: every score over the 200 ImageNet-O classes; ID = val images of them."""
        classes = np.asarray(imagenet_o_classes())
        parts = [(p, np.flatnonzero(np.isin(p.labels, classes))) for p in (val, test)]
        id_logits = np.concatenate([p.logits[rows][:, classes] for p, rows in parts])
        if not len(id_logits):
            output.skipped.append(Skipped(self.name, IMAGENET_O, "the ID sets hold no image of ImageNet-O's 200 classes"))
            return
        id_scores = logit_scores(id_logits, temperature)
        ood_scores = logit_scores(imagenet_o.logits[:, classes], temperature)
        arrays = {
            "sample_id": np.r_[*(np.asarray(p.sample_ids)[rows].astype(str) for p, rows in parts),
                               np.asarray(imagenet_o.sample_ids).astype(str)],
            "content_sha1": np.r_[*(np.asarray(p.content_sha1)[rows].astype(str) for p, rows in parts),
                                  np.asarray(imagenet_o.content_sha1).astype(str)],
            "is_ood": np.r_[np.zeros(len(id_logits), bool), np.ones(len(ood_scores["msp"]), bool)],
            **{f"score_{m}": np.r_[id_scores[m], ood_scores[m]] for m in LOGIT_METHODS},
        }
        self._score(output, model, IMAGENET_O, arrays, seed)
        output.header["imagenet-o protocol"] = ("Hendrycks et al. 2021: logits masked to ImageNet-O's 200 classes, "
                                                "ID = val images of those classes, AUPR = average precision (OOD positive)")


__all__ = ["OodSuite", "detection_metrics"]

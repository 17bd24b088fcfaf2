"""Every suite x every kind of subject gives records or a skip with its reason: never nothing.

Subjects (issue 15, 3): a live model (``python:``), a recorded ``decisions:`` observer (ResNet-50's
cue-conflict session as model-vs-human published it) and a recorded ``predictions:`` observer
(imagenet_x's CSV format). Datasets that need real data are simply not given: their skip must then
say the dataset is missing. ImageNet-C (made from val: 75 conditions) and digits (built offline
on first use, then a linear probe) are left out with ``--datasets``; their skips say so.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from auditkit.adapters.specs import ModelOptions, load_model
from auditkit.data.answer_files import PREDICTION_COLUMNS, to_csv
from auditkit.data.catalog import DATASETS
from auditkit.records import RunResults
from auditkit.run.audit import run_audit
from auditkit.run.config import RunConfig
from auditkit.subjects import Unavailable
from auditkit.suite import PredictionRequest
from suites import SUITES, get_suite
from tests.conftest import TINY_MODEL, VAL_CLASSES, standard_val_names, write_image

REPO = Path(__file__).resolve().parents[2]
CUE_CONFLICT_RESNET50 = REPO / "suites" / "shape_bias" / "reference" / "cue-conflict_resnet50_session-1.csv"
KINDS = ("python", "decisions", "predictions")
LEFT_OUT = ("imagenet-c", "digits")
# what a missing dataset's skip says, per subject kind (the catalog's "not found ... --data NAME=PATH"
# for a live model, "holds recorded answers only for ..." for an observer)
MISSING = {"python": "not found", "decisions": "holds recorded answers only for",
           "predictions": "holds recorded answers only for"}


def _val(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for wnid, index in VAL_CLASSES.items():
        for name in standard_val_names(index, 2):
            write_image(root / wnid / name, rng)
    return root


def _spec(kind: str, root: Path) -> str:
    if kind == "python":
        (root / "tiny.py").write_text(TINY_MODEL)
        return f"python:{root / 'tiny.py'}:make"
    if kind == "decisions":
        shutil.copy(CUE_CONFLICT_RESNET50, root / CUE_CONFLICT_RESNET50.name)
        return f"decisions:{root / CUE_CONFLICT_RESNET50.name}"
    rng = np.random.default_rng(1)
    names = [n for index in VAL_CLASSES.values() for n in standard_val_names(index, 2)]
    rows = [(n, int(rng.integers(0, 1000)), float(rng.uniform(0.1, 1))) for n in names]
    (root / "predictions.csv").write_text(to_csv(PREDICTION_COLUMNS, rows))
    return f"predictions:{root / 'predictions.csv'}"


@pytest.fixture(scope="module", params=KINDS)
def audited(request, tmp_path_factory) -> tuple[str, RunResults]:
    """One run of every registered suite on one subject kind."""
    kind = request.param
    root = tmp_path_factory.mktemp(kind)
    model = load_model(_spec(kind, root), ModelOptions(head_cache=root / "heads"))
    chosen = tuple(n for n in DATASETS.names() if n not in LEFT_OUT)
    config = RunConfig(
        suites=tuple(SUITES.names()), out_dir=root / "out", cache_dir=root / "cache", data_root=root / "no-data",
        data_overrides={"imagenet-val": str(_val(root / "val"))}, workers=0, progress=False, batch_size=8,
        datasets=chosen,
    )
    return kind, run_audit(model, config)


@pytest.mark.parametrize("suite", SUITES.names())
def test_every_suite_gives_records_or_a_skip_with_its_reason(audited, suite):
    kind, results = audited
    records = [r for r in results.records if r.suite == suite]
    skipped = [s for s in results.skipped if s.suite == suite]
    assert records or skipped, f"{suite} on a {kind} subject gave nothing"
    assert all(s.reason.strip() for s in skipped)
    # every dataset the suite reads is accounted for: scored, or skipped with the reason
    covered = {r.dataset for r in records} | {s.dataset for s in skipped}
    assert set(get_suite(suite).datasets) <= covered, f"{suite} on {kind}: {set(get_suite(suite).datasets) - covered}"
    for s in skipped:
        if s.dataset in LEFT_OUT:
            assert s.reason.startswith("not requested (--datasets"), s
        elif s.dataset not in results.header["datasets"]:  # not given: the skip says it is missing
            assert MISSING[kind] in s.reason, s


def test_a_live_model_is_scored_where_it_has_data(audited):
    kind, results = audited
    scored = {r.suite for r in results.records}
    if kind == "python":
        assert {"calibration", "imagenet_x", "robustness", "invariance", "adversarial"} <= scored
    elif kind == "decisions":
        assert {"shape_bias", "human_ood"} <= scored
    else:
        assert {"imagenet_x", "robustness"} <= scored


def test_the_adversarial_suite_skips_recorded_top1_with_the_reason(audited):
    """It used to return an empty output for an observer, with no reason."""
    kind, results = audited
    if kind != "predictions":
        pytest.skip("the predictions: observer's case")
    reasons = [s.reason for s in results.skipped if s.suite == "adversarial"]
    assert any("answers with top1; adversarial scores logits" in r for r in reasons), reasons
    assert any("recorded on the inputs as released" in r and "fgsm/" in r for r in reasons), reasons


def test_observers_are_unavailable_for_what_they_do_not_hold(tmp_path):
    observer = load_model(_spec("predictions", tmp_path), ModelOptions())
    source = observer.open_dataset("imagenet-val", tmp_path, {})
    answered = observer.answer(PredictionRequest("imagenet-val"), source)
    assert answered.answered == ("top1",)
    for request in (PredictionRequest("imagenet-val", "scale/1.5"), PredictionRequest("imagenet-val", output="features"),
                    PredictionRequest("imagenet-val", output="layers", model="reference")):
        answer = observer.answer(request, source)
        assert isinstance(answer, Unavailable) and answer.reason


def test_the_dry_run_plan_already_skips_what_a_suite_cannot_score(tmp_path):
    """Recorded top-1 answers give calibration nothing it scores (it needs logits): the plan says
    so before anything runs, while imagenet_x, which scores top-1 answers, is planned."""
    from auditkit.run.audit import plan_audit

    observer = load_model(_spec("predictions", tmp_path), ModelOptions())
    config = RunConfig(suites=("calibration", "imagenet_x"), out_dir=tmp_path / "out", cache_dir=tmp_path / "cache",
                       data_root=tmp_path, progress=False, workers=0)
    plan = plan_audit(observer, config)
    calibration, imagenet_x = plan.suites
    assert not calibration.requests
    assert any("answers with top1; calibration scores logits" in s.reason for s in calibration.skipped)
    assert [r.dataset for r in imagenet_x.requests] == ["imagenet-val"]
    assert any("skipped imagenet-val: " in line and "calibration scores logits" in line for line in plan.lines())

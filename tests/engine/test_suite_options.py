"""Suite options (``--option SUITE.NAME=VALUE``) declared by the suite, and headlines the suite
declares (issue 22, item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from auditkit.cli import main
from auditkit.errors import AuditError
from auditkit.records import MetricRecord
from auditkit.suite import PredictionRequest, Suite, SuiteOption, SuiteOutput
from suites import SUITES, get_suite
from tests.engine.test_bad_input import one_error_line
from tests.engine.test_run import audit_args


def _run_args(tiny_model_file: Path, val_folder: Path, tmp_path: Path, suites: str, *extra: str) -> list[str]:
    args = audit_args(tiny_model_file, val_folder, tmp_path / "out", tmp_path / "cache", *extra)
    args[args.index("calibration")] = suites
    return args


@pytest.mark.parametrize("option, expected", [
    ("robustnes.er_scale=probit", "--option robustnes.er_scale=probit: unknown suite 'robustnes' "
                                  "(did you mean 'robustness'?); see `audit ls suites`"),
    ("robustness.er_scal=probit", "suite robustness has no option 'er_scal' (did you mean 'er_scale'?); its "
                                  "options: er_scale, er_baseline"),
    ("robustness.er_scale=probt", "--option robustness.er_scale=probt: use logit or probit (did you mean 'probit'?)"),
    ("er_scale=probit", "--option 'er_scale=probit': write SUITE.NAME=VALUE"),
    ("robustness.er_scale", "write SUITE.NAME=VALUE"),
    ("robustness.er_baseline=/no/such/fits.json", "no file at /no/such/fits.json"),
    ("calibration.bins=20", "suite calibration has no option 'bins'; its options: temperature_split"),
])
def test_a_bad_option_is_one_line_before_anything_runs(option, expected, tiny_model_file, val_folder, tmp_path,
                                                       capsys):
    err = one_error_line(capsys, _run_args(tiny_model_file, val_folder, tmp_path, "calibration,robustness",
                                           "--option", option))
    assert expected in err, err
    assert not (tmp_path / "cache").exists()  # refused before any model loads


def test_the_er_scale_alias_is_checked_and_may_not_contradict_the_option(tiny_model_file, val_folder, tmp_path,
                                                                         capsys):
    err = one_error_line(capsys, _run_args(tiny_model_file, val_folder, tmp_path, "calibration", "--er-scale", "x"))
    assert err == "audit: error: --er-scale 'x': use logit or probit"  # checked even without robustness, as before
    err = one_error_line(capsys, _run_args(tiny_model_file, val_folder, tmp_path, "robustness", "--er-scale", "logit",
                                           "--option", "robustness.er_scale=probit"))
    assert "robustness.er_scale is already set to 'logit'; give it once" in err
    err = one_error_line(capsys, _run_args(tiny_model_file, val_folder, tmp_path, "calibration",
                                           "--option", "robustness.er_scale=probit"))
    assert "suite robustness is not in this run (--suites calibration); add it or drop the option" in err


@pytest.mark.parametrize("kind, text, expected", [
    (int, "abc", "n is an integer, not 'abc'"), (float, "x", "n is a number, not 'x'"),
    (bool, "maybe", "n is true or false, not 'maybe'"),
])
def test_an_ill_typed_value_is_one_line(kind, text, expected):
    with pytest.raises(AuditError, match=expected):
        SuiteOption("n", kind).parse(text, "--option s.n")
    assert SuiteOption("n", int, (1, 2)).parse("2", "w") == 2 and SuiteOption("n", bool).parse("yes", "w") is True
    with pytest.raises(AuditError, match="w: use 1 or 2"):
        SuiteOption("n", int, (1, 2)).parse("3", "w")


def test_options_reach_the_plan_and_the_header(tiny_model_file, val_folder, tmp_path, capsys):
    fits = tmp_path / "fits.json"
    fits.write_text(json.dumps({"imagenet-hard": {"slope": 1.0, "intercept": 0.0, "source": "mine"}}))
    args = _run_args(tiny_model_file, val_folder, tmp_path, "robustness", "--datasets", "imagenet-val",
                     "--option", f"robustness.er_baseline={fits}", "--er-scale", "probit")
    main([*args, "--dry-run"])
    assert f"robustness (v{get_suite('robustness').version}): er_scale=probit er_baseline={fits}" in \
        capsys.readouterr().out.splitlines()
    main(args)
    header = json.loads((tmp_path / "out" / "results.json").read_text())["header"]
    assert header["suite_protocols"]["robustness"]["settings"] == {"er_scale": "probit", "er_baseline": str(fits)}


def test_audit_ls_suites_lists_every_option(capsys):
    main(["ls", "suites"])
    listing = capsys.readouterr().out
    for name in SUITES.names():
        for option in get_suite(name).options:
            assert f"{name}.{option.name}" in listing
    assert "logit | probit (default logit)" in listing


# options that choose what the model is asked (the images, the attacks): their requests change
def test_no_option_of_a_suite_changes_its_requests():
    """Options that change only how answers are scored keep the store key (the requests) as it is;
    an option that changes the requests says so (``asks``) and gets store entries of its own
    (next test); the finetune suite's recipe is one."""
    asking = []
    for name in SUITES.names():
        suite = get_suite(name)
        for option in suite.options:
            for value in option.choices:
                changed = get_suite(name)
                changed.configure({option.name: value})
                if option.asks:
                    asking.append((name, option.name))
                    assert value == option.default or changed.requests() != suite.requests(), (name, option.name, value)
                else:
                    assert changed.requests() == suite.requests(), (name, option.name, value)
    assert ("finetune", "recipe") in asking


class ResolutionSuite(Suite):
    """A dummy suite whose option changes what the model is asked: the input resolution."""

    name = "resolution_dummy"
    version = "0"
    description = "top-1 at a chosen resolution"
    datasets = ("imagenet-val",)
    options = (SuiteOption("resolution", int, (32, 48), 32, "input resolution"),)

    def requests(self) -> list[PredictionRequest]:
        return [PredictionRequest("imagenet-val", f"resolution/{self.setting('resolution')}")]

    def headline(self, record: MetricRecord) -> bool:
        return record.condition.startswith("resolution/")

    def evaluate(self, model, predictions, seed):  # type: ignore[no-untyped-def]
        output = SuiteOutput()
        for request, answer in predictions.items():
            correct = answer.predicted_class == answer.labels
            output.records.append(self.record(model, dataset=request.dataset, condition=answer.condition,
                                              metric="top1", value=float(np.mean(correct)), n=len(correct)))
        return output


def test_an_option_that_changes_requests_gets_its_own_store_entries(tiny_model_file, val_folder, tmp_path,
                                                                    monkeypatch, capsys):
    monkeypatch.setitem(SUITES._entries, ResolutionSuite.name, ResolutionSuite)

    def run(value: int, out: str) -> dict:
        args = audit_args(tiny_model_file, val_folder, tmp_path / out, tmp_path / "cache",
                          "--option", f"resolution_dummy.resolution={value}")
        args[args.index("calibration")] = "resolution_dummy"
        main(args)
        return json.loads((tmp_path / out / "results.json").read_text())["header"]

    assert run(32, "a")["images_forwarded"] == {"imagenet-val/resolution/32": 24}
    second = run(48, "b")
    assert second["images_forwarded"] == {"imagenet-val/resolution/48": 24}  # never the 32 px answers
    assert second["suite_protocols"]["resolution_dummy"]["settings"] == {"resolution": 48}
    again = run(48, "c")  # the same value again: from the store
    assert sum(again["images_forwarded"].values()) == 0 and again["images_from_store"] == {"imagenet-val/resolution/48": 24}
    metas = [json.loads(p.read_text()) for p in (tmp_path / "cache" / "store").glob("*/*/meta.json")]
    assert sorted(m["condition"]["parameters"]["resolution"] for m in metas
                  if m.get("condition", {}).get("kind") == "resolution") == [32, 48]
    summary = capsys.readouterr().err
    assert "resolution_dummy" in summary  # its headline (at resolution/48) is in the printed summary


def test_headlines_are_the_suites_own():
    from auditkit.report.headline import is_headline

    def record(suite: str, condition: str = "none", subset: str = "all", aggregate: str = "") -> MetricRecord:
        return MetricRecord(model="m", suite=suite, dataset="d", condition=condition, subset=subset, metric="top1",
                            value=0.5, ci_low=None, ci_high=None, n=1, aggregate=aggregate)

    assert is_headline(record("calibration")) and is_headline(record("shape_bias", "native"))
    assert not is_headline(record("calibration", "scale/2")) and not is_headline(record("imagenet_x", subset="texture"))
    assert is_headline(record("robustness", "corrupt/*/*", aggregate="mean"))
    assert not is_headline(record("robustness", "corrupt/fog/*", aggregate="normalised_sum"))
    assert not is_headline(record("calibration", "corrupt/*/*", aggregate="mean"))  # robustness's rule, not a global one
    assert is_headline(record("human_ood", "native", "benchmark"))
    assert not is_headline(record("shape_bias", "native", "benchmark"))  # human_ood's subset, not a global one
    assert is_headline(record("a_suite_of_another_version"))  # unknown suites: the plain-input rule
    text = (Path(__file__).resolve().parents[2] / "auditkit" / "report" / "headline.py").read_text()
    assert not [name for name in SUITES.names() if name in text.replace("suites import", "")]
    assert "corrupt" not in text and "benchmark" not in text


def test_a_python_caller_setting_options_of_a_suite_it_does_not_run_is_told(tmp_path):
    from auditkit.run import RunConfig, check_config

    config = RunConfig(suites=("calibration",), out_dir=tmp_path / "out", cache_dir=tmp_path / "cache",
                       data_root=tmp_path, suite_options={"robustness": {"er_scale": "probit"}})
    with pytest.raises(AuditError, match="robustness, which this run does not run"):
        check_config(config)
    check_config(RunConfig(suites=("robustness",), out_dir=tmp_path / "out", cache_dir=tmp_path / "cache",
                           data_root=tmp_path, suite_options={"robustness": {"er_scale": "probit"}}))

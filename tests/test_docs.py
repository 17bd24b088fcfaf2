"""The README and docs/ stay true: a short README whose table names pages that exist, relative
links that resolve (anchors included), an excerpt of results.json taken from a real run, a page
per suite, and the worked examples of docs/adding.md run as the page says."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import VAL_CLASSES, standard_val_names, write_image

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
README_LIMIT_BYTES = 10_000

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def pages() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def prose(text: str) -> str:
    """The text outside fenced code blocks and inline code (links there are examples, not links)."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens, repeats -1, -2."""
    seen: dict[str, int] = {}
    found = set()
    for line in FENCE.sub("", page.read_text()).splitlines():
        match = re.match(r"#{1,6} (.*)", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def test_readme_is_at_most_10_kb() -> None:
    size = len(README.read_bytes())
    assert size <= README_LIMIT_BYTES, f"README.md is {size} bytes; move detail into docs/"


def test_every_page_the_readme_table_lists_exists() -> None:
    section = README.read_text().split("## Documentation\n", 1)[1].split("\n## ", 1)[0]
    listed = [REPO / target for target in re.findall(r"^\| \[[^\]]+\]\(([^)#]+)\)", section, re.M)]
    assert len(listed) >= 10, listed
    missing = [str(p.relative_to(REPO)) for p in listed if not p.is_file()]
    assert not missing, f"the README's docs table lists absent pages: {missing}"
    unlisted = {p for p in DOCS.glob("*.md")} - set(listed)
    assert not unlisted, f"docs pages the README's table does not list: {sorted(map(str, unlisted))}"


def test_every_relative_link_resolves() -> None:
    broken = []
    for page in pages():
        for target in LINK.findall(prose(page.read_text())):
            if re.match(r"[a-z]+:", target):  # http(s), mailto: not checked offline
                continue
            path_text, _, anchor = target.partition("#")
            path = (page.parent / path_text).resolve() if path_text else page
            where = f"{page.relative_to(REPO)}: {target}"
            if not path.exists():
                broken.append(f"{where} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                broken.append(f"{where} (no heading #{anchor})")
    assert not broken, "\n".join(broken)


def test_the_link_check_catches_a_broken_link_and_anchor(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# A title\n\nSee [x](page.md#a-title), [y](page.md#no-such) and `[z](absent.md)`.\n")
    assert anchors(page) == {"a-title"}
    assert LINK.findall(prose(page.read_text())) == ["page.md#a-title", "page.md#no-such"]


def test_the_readme_excerpt_is_the_example_runs_results() -> None:
    text = README.read_text()
    excerpt = json.loads(re.search(r"```json\n(.*?)\n```", text, re.S).group(1))
    real = json.loads((REPO / "reports" / "examples" / "run" / "results.json").read_text())
    assert excerpt["schema_version"] == real["schema_version"]
    for key, value in excerpt["header"].items():
        if isinstance(value, dict):
            assert value.items() <= real["header"][key].items(), key
        else:
            assert value == real["header"][key], key
    assert excerpt["records"] and all(record in real["records"] for record in excerpt["records"])


def test_every_suite_has_a_page_and_an_index_row() -> None:
    from suites import SUITES, get_suite

    index = (DOCS / "suites" / "index.md").read_text()
    for name in SUITES.names():
        page = DOCS / "suites" / f"{name}.md"
        assert page.is_file(), f"suite {name} has no docs/suites/{name}.md"
        headings = set(re.findall(r"^## (.*)$", page.read_text(), re.M))
        assert {"Protocol", "Records", "Deviations from the paper's code", "Published figures it reproduces"} <= headings, name
        row = re.search(rf"^\| \[[^\]]+\]\({name}\.md\) \(`{name}`\) \| ([^ |]+) \|", index, re.M)
        assert row, f"docs/suites/index.md has no row for {name}"
        assert row.group(1) == get_suite(name).version, f"{name}: the index says v{row.group(1)}"


# ---------------------------------------------------------------- docs/adding.md's worked examples
def examples() -> dict[str, str]:
    text = (DOCS / "adding.md").read_text()
    found = dict(re.findall(r"<!-- example: (\S+) -->\n```\w+\n(.*?)\n```", text, re.S))
    assert set(found) == {"my_model.py", "my_suite.py", "my_condition.py", "transfer-layout.txt"}, set(found)
    return found


@pytest.fixture()
def example_files(tmp_path: Path, monkeypatch) -> Path:
    for name, code in examples().items():
        (tmp_path / name).write_text(code + "\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_the_model_and_suite_examples_run_through_the_cli(example_files: Path, monkeypatch) -> None:
    from auditkit.cli import main
    from auditkit.records import read_results
    from suites import SUITES, get_suite

    # the one registry line the page asks for, pointing at the example's module
    monkeypatch.setitem(SUITES._entries, "mean_confidence", "my_suite:MeanConfidenceSuite")
    rng = np.random.default_rng(0)
    val = example_files / "val"
    for wnid, index in VAL_CLASSES.items():
        for name in standard_val_names(index, 2):
            write_image(val / wnid / name, rng)
    out = example_files / "run"
    main(["run", "--model", f"python:{example_files / 'my_model.py'}:make", "--suites", "calibration,mean_confidence",
          "--data", f"imagenet-val={val}", "--out", str(out), "--cache", str(example_files / "cache"),
          "--no-progress", "--workers", "0"])
    results = read_results(out)
    assert results.header["model"]["preprocess"]["input_size"] == 32  # from the example's pretrained_cfg
    mean_confidence = [r for r in results.records if r.suite == "mean_confidence"]
    assert [(r.dataset, r.condition, r.metric, r.n) for r in mean_confidence] == [("imagenet-val", "none", "confidence", 8)]
    # independent: calibration's per-image confidence (max softmax over all 1000) on the same images
    calibration = np.load(out / "per_sample" / "calibration" / "imagenet-val" / "none.npz")
    assert mean_confidence[0].value == pytest.approx(float(np.mean(calibration["confidence"])), rel=1e-5)
    own = np.load(out / "per_sample" / "mean_confidence" / "imagenet-val" / "none.npz")
    suite = get_suite("mean_confidence")
    assert suite.sample_metrics("imagenet-val", "none", dict(own)) == {("all", "confidence"): pytest.approx(mean_confidence[0].value)}


def test_the_condition_example_parses_transforms_and_pickles(example_files: Path, monkeypatch) -> None:
    from auditkit import conditions
    from auditkit.adapters.preprocess import PreprocessConfig
    from auditkit.errors import AuditError
    from my_condition import Rotate

    monkeypatch.setitem(conditions.KINDS, "rotate", Rotate)  # the page's one registration
    assert conditions.parse("rotate/90") == Rotate(degrees=90) and Rotate(90).format() == "rotate/90"
    assert Rotate.form() == "rotate/<d>" and conditions.matches("rotate/*", "rotate/90")
    assert Rotate(90).store_key() == {"kind": "rotate", "version": 1, "parameters": {"degrees": 90}}
    with pytest.raises(AuditError):
        conditions.parse("rotate/ninety")
    preprocess = PreprocessConfig(name="custom", input_size=32, crop_pct=0.875, mean=(0.5,) * 3, std=(0.5,) * 3)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 52, 3), dtype=np.uint8))
    plain = preprocess.transform()(image)
    rotated = pickle.loads(pickle.dumps(Rotate(90).transform(preprocess)))(image)  # DataLoader workers pickle it
    assert torch.equal(rotated, torch.rot90(plain, 1, dims=(1, 2)))
    assert not torch.equal(rotated, plain)


def test_the_dataset_example_layout_is_read_as_a_transfer_task(example_files: Path, capsys) -> None:
    from auditkit.cli import main
    from auditkit.data.transfer import read_transfer, split_of

    rng = np.random.default_rng(0)
    for line in examples()["transfer-layout.txt"].splitlines():
        write_image(example_files / line, rng)
    source = read_transfer(example_files / "my_task", "transfer")
    assert source.info["classes"] == 2 and source.info["layout"] == "split folders"
    assert sorted(split_of(s) for s in source.samples) == ["test"] * 2 + ["train"] * 4
    main(["run", "--model", f"python:{example_files / 'my_model.py'}:make", "--suites", "linear_probe",
          "--data", f"transfer={example_files / 'my_task'}", "--data-root", str(example_files / "no-data"),
          "--cache", str(example_files / "cache"), "--dry-run"])
    plan = capsys.readouterr().out
    assert "transfer" in plan and "6" in plan, plan

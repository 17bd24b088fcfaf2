"""report.html and compare.html in headless Chromium: every figure decodes, nothing is fetched,
the console stays empty, the page fits a laptop screen, and it prints to PDF.

Screenshots and the printed PDFs are saved under ``$AUDITKIT_BROWSER_ARTIFACTS`` when set (else
the test's tmp folder) so a person can look at them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from auditkit.cli import main
from tests.compare.fixtures import make_runs
from tests.engine.test_report import BROWSER_TIMEOUT_S, CHROMIUM_FLAGS, chromium

pytestmark = pytest.mark.browser

LAPTOP = (1366, 900)
PROBE = """<script>
window.addEventListener("load", () => setTimeout(() => {
  const images = [...document.images];
  const broken = images.filter(i => !i.complete || i.naturalWidth === 0).length;
  const fetched = performance.getEntriesByType("resource").map(e => e.name).filter(n => !n.startsWith("data:"));
  const overflow = document.documentElement.scrollWidth - window.innerWidth;
  document.title = "PROBE" + JSON.stringify({images: images.length, broken, fetched, overflow});
}, 100));
</script>"""


def run_chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={LAPTOP[0]},{LAPTOP[1]}",
         "--enable-logging=stderr", "--v=0", *args, page.as_uri()],
        capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S,
    )


def console_messages(stderr: str) -> list[str]:
    # Chromium logs every console message (errors, CSP violations, uncaught exceptions) as CONSOLE
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def probe(page: Path, tmp_path: Path) -> dict:
    """Load a copy of the page with a measuring script (its CSP relaxed for that script only)."""
    copy = tmp_path / f"probe-{page.name}"
    html = page.read_text().replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';")
    copy.write_text(html.replace("</body>", PROBE + "</body>"))
    dom = run_chromium(copy, tmp_path / "profile-probe", "--dump-dom", "--virtual-time-budget=5000").stdout
    found = re.search(r"<title>PROBE(.*?)</title>", dom)
    assert found, dom[-1500:]
    return json.loads(found.group(1).replace("&quot;", '"'))


def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("AUDITKIT_BROWSER_ARTIFACTS", tmp_path / "artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def check_page(page: Path, tmp_path: Path, expected_images: int) -> None:
    html = page.read_text()
    for url in re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', html):
        # figures inline, in-page anchors, and the leaderboard CSV as a download that fetches nothing
        assert url.startswith(("data:image/png;base64,", "#", "data:text/csv;base64,")), url
    assert "url(" not in html and "@import" not in html and "<link" not in html
    plain = run_chromium(page, tmp_path / "profile", "--dump-dom", "--virtual-time-budget=5000")
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert console_messages(plain.stderr) == [], console_messages(plain.stderr)
    measured = probe(page, tmp_path)
    assert measured["images"] == expected_images and measured["broken"] == 0, measured
    assert measured["fetched"] == [], measured
    assert measured["overflow"] <= 0, f"the page is wider than a {LAPTOP[0]} px laptop screen: {measured}"
    out = artifacts(tmp_path)
    shot = out / f"{page.stem}-laptop.png"
    run_chromium(page, tmp_path / "profile", f"--screenshot={shot}")
    assert shot.is_file() and shot.stat().st_size > 20_000
    printed = out / f"{page.stem}.pdf"
    run_chromium(page, tmp_path / "profile", f"--print-to-pdf={printed}", "--no-pdf-header-footer")
    assert printed.read_bytes().startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", printed.read_bytes()))
    assert pages >= 1
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "2", str(printed), str(out / f"{page.stem}-print")],
                       check=True, timeout=120)


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> tuple[Path, Path]:
    root = make_runs(tmp_path_factory.mktemp("browser"), 4)
    main(["compare", str(root / "runs" / "m*"), "--out", str(root / "cmp"), "--resamples", "200"])
    return root / "runs" / "m0" / "report.html", root / "cmp" / "compare.html"


def test_report_in_chromium(pages, tmp_path: Path) -> None:
    report, _ = pages
    figures = json.loads((report.parent / "results.json").read_text())["figures"]
    check_page(report, tmp_path, expected_images=len(figures))


def test_compare_in_chromium(pages, tmp_path: Path) -> None:
    _, page = pages
    check_page(page, tmp_path, expected_images=page.read_text().count('<img src="data:image/png;base64,'))
    assert page.read_text().count('<span class="sig-mark">') > 0  # significance marks are on the page


def test_model_card_in_chromium(pages, tmp_path: Path) -> None:
    report, _ = pages
    main(["card", str(report.parent)])
    check_page(report.parent / "model_card.html", tmp_path, expected_images=0)


def test_the_checks_catch_a_broken_page(tmp_path: Path) -> None:
    """The browser checks above can fail: a page with a fetch, a broken image and a script error."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
                   "content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\"><title>x</title></head>"
                   '<body><img src="http://example.invalid/x.png"><img src="data:image/png;base64,AAAA">'
                   "<script>undefinedFunction();</script></body></html>")
    messages = console_messages(run_chromium(bad, tmp_path / "profile", "--dump-dom", "--virtual-time-budget=3000").stderr)
    assert any("Content Security Policy" in m for m in messages), messages
    measured = probe(bad, tmp_path)
    assert measured["broken"] == 2 and measured["images"] == 2
    # without a CSP the fetch happens (and fails offline): the resource list names it
    bare = tmp_path / "bare.html"
    bare.write_text('<!DOCTYPE html><html><head><title>x</title></head><body>'
                    '<img src="http://127.0.0.1:9/x.png"></body></html>')
    assert probe(bare, tmp_path)["fetched"] == ["http://127.0.0.1:9/x.png"]


EXAMPLES = Path(__file__).resolve().parents[2] / "reports" / "examples"


@pytest.mark.parametrize("page", ["run/report.html", "run/model_card.html", "compare/compare.html"])
def test_committed_examples_in_chromium(page: str, tmp_path: Path) -> None:
    """The examples linked from the README (`make reports`) render as the tests' pages do."""
    path = EXAMPLES / page
    if not path.is_file():
        pytest.skip(f"{path} not built (make reports)")
    check_page(path, tmp_path, expected_images=path.read_text().count('<img src="data:image/png;base64,'))

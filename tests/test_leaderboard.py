"""Leaderboard: statistics checked against scipy and by hand, a site built from real result files
(MiniLM on the sample FollowIR task and on a SciFact subset), deterministic bytes, bad files
skipped by name, matched-budget groups, publishing, and a real headless Chromium."""

from __future__ import annotations

import dataclasses
import html as html_lib
import json
import random
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from harness.errors import IfirError
from leaderboard import stats
from leaderboard.collect import collect
from leaderboard.publish import publish_dir, publish_git
from leaderboard.render import build_site

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


# ---- statistics ----------------------------------------------------------------------------

def test_randomization_test_by_hand():
    # Differences 1, 2, 3: of the 8 sign patterns only +++ and --- reach |mean| >= 2.
    assert stats.randomization_test([1, 2, 3], [0, 0, 0]) == 0.25
    assert stats.randomization_test([0, 0, 0], [1, 2, 3]) == 0.25
    # Differences 1, -1: every pattern has |mean| >= 0 -> p = 1; identical models -> p = 1.
    assert stats.randomization_test([1, 0], [0, 1]) == 1.0
    assert stats.randomization_test([0.5, 0.2], [0.5, 0.2]) == 1.0
    # Differences 1, 1, 1, 1, -1 (|sum| 3): |sum| >= 3 when 0, 1, 4 or 5 of the 5 signs are +,
    # i.e. 1 + 5 + 5 + 1 = 12 of 32 patterns.
    assert stats.randomization_test([1, 1, 1, 1, 0], [0, 0, 0, 0, 1]) == 12 / 32


def test_randomization_test_matches_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")

    def mean_diff(x, y, axis):
        return np.mean(x - y, axis=axis)

    rng = np.random.default_rng(7)
    a, b = rng.random(11), rng.random(11) + 0.15  # exact: 2^11 <= 10000 sign patterns
    exact = scipy_stats.permutation_test((a, b), mean_diff, permutation_type="samples", vectorized=True,
                                         n_resamples=np.inf, alternative="two-sided")
    assert stats.randomization_test(a, b) == pytest.approx(exact.pvalue, abs=1e-12)
    a, b = rng.random(60), rng.random(60) + 0.08  # Monte Carlo on both sides: agree within sampling error
    ours = stats.randomization_test(a, b)
    theirs = scipy_stats.permutation_test((a, b), mean_diff, permutation_type="samples", vectorized=True,
                                          n_resamples=stats.N_PERMUTATIONS, alternative="two-sided", rng=1).pvalue
    assert 0.001 < ours < 0.5 and abs(ours - theirs) < 0.015
    assert stats.randomization_test(a, b) == ours  # fixed seed


def test_compare_uses_only_shared_queries():
    result = stats.compare({"q1": 1.0, "q2": 0.5, "q3": 0.0}, {"q2": 0.25, "q3": 0.0, "q4": 1.0})
    assert result["n"] == 2 and result["diff"] == pytest.approx(0.125)
    assert stats.compare({"q1": 1.0}, {"q2": 1.0}) is None


# ---- real result files and fixtures ----------------------------------------------------------

@pytest.fixture(scope="session")
def real_results(tmp_path_factory, minilm, shared_data) -> Path:
    """Real result files: MiniLM and Lucene BM25 on the bundled FollowIR sample and on a SciFact
    subset (60 test claims, their cited abstracts and 500 more documents) so the run stays short."""
    from harness.models import load_model
    from harness.runner import RunOptions, run_and_save
    from harness.tasks import load_task

    root = tmp_path_factory.mktemp("results")
    cache = tmp_path_factory.mktemp("cache")
    options = RunOptions(output=root, cache_dir=cache, show_progress=False,
                         command="pytest tests/test_leaderboard.py (real run)")
    models = [minilm, load_model("bm25", cache_dir=cache)]
    sample = load_task("sample")
    scifact = load_task(str(shared_data / "scifact"))
    qids = sorted(q for q in scifact.qrels if q in scifact.queries)[:60]
    judged = {d for q in qids for d in scifact.qrels[q]}
    docs = sorted(judged) + [d for d in sorted(scifact.corpus) if d not in judged][:500]
    subset = dataclasses.replace(scifact, name="scifact-subset", queries={q: scifact.queries[q] for q in qids},
                                 corpus={d: scifact.corpus[d] for d in docs}, qrels={q: scifact.qrels[q] for q in qids})
    for model in models:
        run_and_save(model, sample, options)
        run_and_save(model, subset, options)
    return root


def make_trained_fixture(source: Path, root: Path, *, mix: str, budget: int, seed: int, shift: float) -> Path:
    """A clearly marked TEST FIXTURE: a copy of a real result file posing as a trained model, its
    per-query values moved by `shift` plus seeded noise and its metrics recomputed as their means."""
    data = json.loads(source.read_text(encoding="utf-8"))
    rng = random.Random(f"{mix}/{budget}/{seed}/{data['task']['name']}")
    lo = -1.0 if data["task"]["kind"] == "instruction-reranking" else 0.0

    def move(values: dict, low: float) -> dict:
        return {q: min(1.0, max(low, v + shift + rng.gauss(0, 0.05))) for q, v in sorted(values.items())}

    metrics = {}
    for key, values in data["per_query"].items():
        if key == "p-MRR":
            data["per_query"][key] = move(values, lo)
            metrics[key] = float(np.mean(list(data["per_query"][key].values())))
        elif all(isinstance(v, dict) for v in values.values()):  # FollowIR og / changed parts
            data["per_query"][key] = {m: move(v, 0.0) for m, v in values.items()}
            metrics[key] = {m: float(np.mean(list(v.values()))) for m, v in data["per_query"][key].items()}
        else:
            data["per_query"][key] = move(values, 0.0)
            metrics[key] = float(np.mean(list(data["per_query"][key].values())))
    data["metrics"] = metrics
    base = {"name": data["model"]["name"], "revision": data["model"]["revision"]}
    name, revision = f"test-fixture/minilm-{mix}", f"fixture-budget{budget}-seed{seed}"
    data["model"].update(name=name, revision=revision, extra={"training_card": {
        "schema_version": 1, "base_model": base, "note": "SYNTHETIC TEST FIXTURE, not a trained model",
        "data": {"source": "test fixture", "split": "train", "budget": budget, "mix": mix, "n_examples": budget},
        "llm": {"backend": "none", "model": "fixture"}, "config": {}, "seed": seed, "seconds": budget / 100, "examples_per_second": 100.0,
        "loss_curve": [[0, 2.0], [10, 1.0 - shift]], "created_at": data["provenance"]["created_at"],
        "command": f"test fixture: {mix} mix, budget {budget}",
    }})
    data["provenance"]["command"] = f"test fixture (shifted copy of: {data['provenance']['command']})"
    out = root / "test-fixture" / f"{mix}-{budget}-{seed}" / source.name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    shutil.copyfile(source.with_suffix(".run.trec"), out.with_suffix(".run.trec"))
    return out


@pytest.fixture(scope="session")
def results_with_cards(real_results, tmp_path_factory) -> Path:
    """The real results plus trained fixtures: standard / dual-view mixes at budgets 1000 and 4000."""
    root = tmp_path_factory.mktemp("results_cards")
    shutil.copytree(real_results, root, dirs_exist_ok=True)
    for source in sorted(real_results.rglob("*.json")):
        if json.loads(source.read_text(encoding="utf-8"))["model"]["kind"] != "dense":
            continue  # the trained fixtures are copies of the MiniLM results only
        for mix, budget, shift in (("standard", 1000, 0.0), ("dual-view", 1000, 0.08), ("standard", 4000, 0.02), ("dual-view", 4000, 0.12)):
            make_trained_fixture(source, root, mix=mix, budget=budget, seed=0, shift=shift)
        if source.name == "sample.json":  # a model with one task only: blank cells, partial means
            make_trained_fixture(source, root, mix="diversity", budget=1000, seed=0, shift=0.03)
    return root


@pytest.fixture(scope="session")
def site(results_with_cards, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    build_site(results_with_cards, out)
    return out


def _bad_files(root: Path) -> dict[str, Path]:
    good = sorted(root.rglob("sample.json"))[0]
    text = good.read_text(encoding="utf-8")
    bad = {}
    bad["truncated"] = root / "bad" / "truncated.json"
    bad["truncated"].parent.mkdir(parents=True, exist_ok=True)
    bad["truncated"].write_text(text[: len(text) // 2], encoding="utf-8")
    data = json.loads(text)
    bad["schema"] = root / "bad" / "old_schema.json"
    bad["schema"].write_text(json.dumps(dict(data, schema_version=0)), encoding="utf-8")
    del data["per_query"]
    bad["missing"] = root / "bad" / "no_per_query.json"
    bad["missing"].write_text(json.dumps(data), encoding="utf-8")
    return bad


# ---- the site --------------------------------------------------------------------------------

def test_site_is_rebuilt_from_the_files(site, results_with_cards):
    html = (site / "index.html").read_text(encoding="utf-8")
    assert "cdn" not in html.lower() and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html
    cells = re.findall(r'<td class="num[^"]*" data-v="([^"]*)"><a href="([^"]+)" title="([^"]*)">', html)
    assert len(cells) >= 5 * 6
    col = collect(results_with_cards)
    for value, href, title in cells:
        target = site / href.replace("%40", "@")
        assert target.is_file(), href
        data = json.loads(target.read_text(encoding="utf-8"))
        assert "command: " + data["provenance"]["command"] in html_lib.unescape(title)
        numbers = [v for c in col.columns if c.task == data["task"]["name"] and (v := c.value(data["metrics"])) is not None]
        assert float(value) in numbers
        assert target.with_name(data["run_file"]).is_file()  # the run file is copied beside it
    assert (site / "static" / "app.js").is_file() and (site / "static" / "style.css").is_file()


def test_site_sections(site):
    html = (site / "index.html").read_text(encoding="utf-8")
    assert html.count("<svg") >= 3  # scatter + two budget curves
    assert '<td class="model-col" data-v="bm25' in html  # the real Lucene BM25 runs have their row
    assert 'id="plot-pmrr-vs-general"' in html
    assert "test-fixture/minilm-dual-view" in html and "budget 1000" in html and "budget 4000" in html
    # the dual-view fixture is shifted +8 points per query: its difference to the standard mix is significant
    assert re.search(r'class="delta sig"[^>]*>\+\d+\.\d+ \(p=[0-9.<]+\) ●', html)
    assert "(untrained base)" in html
    assert "<td>none: fixture</td>" in html  # the LLM named by the training card
    # the diversity fixture has no scifact-subset result: a blank cell and no general mean in its row
    row = re.search(r'<tr data-model="\d+">\n<td class="model-col" data-v="test-fixture/minilm-diversity(?:(?!</tr>).)*</tr>', html, re.S).group(0)
    assert '<td class="num" data-v="">' in row and 'title="no results"' in row
    data = json.loads(re.search(r'<script type="application/json" id="lb-data">(.*?)</script>', html, re.S).group(1))
    assert data["nPermutations"] == stats.N_PERMUTATIONS and data["tests"]
    n, diff, p, mean_a, mean_b = next(iter(data["tests"].values()))
    assert 0 < p <= 1 and n > 0 and diff == pytest.approx(mean_a - mean_b, abs=1e-6)


def test_build_is_deterministic(results_with_cards, tmp_path):
    build_site(results_with_cards, tmp_path / "a")
    build_site(results_with_cards, tmp_path / "b")
    build_site(results_with_cards, tmp_path / "a")  # rebuilding in place gives the same bytes too
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_bad_files_are_reported_and_skipped(real_results, tmp_path):
    root = tmp_path / "results"
    shutil.copytree(real_results, root)
    bad = _bad_files(root)
    result = CliRunner().invoke(_cli(), ["leaderboard", "build", str(root), "--out", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    for key, path in bad.items():
        rel = path.relative_to(root).as_posix()
        assert rel in result.output and f"skipped {rel}" in html, key
    assert "not valid JSON" in html and "schema_version 0" in html and "missing field(s) per_query" in html
    assert not (tmp_path / "site" / "results" / "bad").exists()
    assert html.count("sentence-transformers/all-MiniLM-L6-v2") >= 1 and "scifact-subset" in html


def test_build_refuses_a_foreign_directory(real_results, tmp_path):
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(IfirError, match="not a leaderboard site"):
        build_site(real_results, tmp_path)
    with pytest.raises(IfirError, match="no readable result files"):
        build_site(tmp_path, tmp_path / "site")


def test_publish_to_directory_and_git_branch(site, tmp_path):
    target = publish_dir(site, tmp_path / "pages")
    assert (target / "index.html").read_bytes() == (site / "index.html").read_bytes()
    with pytest.raises(IfirError, match="not empty"):
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "keep.txt").write_text("x", encoding="utf-8")
        publish_dir(site, tmp_path / "other")

    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "README").write_text("project", encoding="utf-8")
    commit = publish_git(site, repo, branch="gh-pages")
    listed = subprocess.run(["git", "-C", str(repo), "ls-tree", "-r", "--name-only", "gh-pages"], capture_output=True, text=True, check=True).stdout.split()
    assert "index.html" in listed and ".nojekyll" in listed and any(p.startswith("results/") for p in listed)
    assert "README" not in listed and (repo / "README").is_file() and not (repo / "index.html").exists()
    assert publish_git(site, repo, branch="gh-pages") == commit  # unchanged site: no new commit
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "gh-pages"], check=True)
    with pytest.raises(IfirError, match="checked out"):
        publish_git(site, repo, branch="gh-pages")


def _cli():
    from harness.cli import main

    return main


# ---- a real browser ----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed here (as root) when missing."""
    if not CHROMIUM.exists():
        if shutil.which("apt-get") is None:
            pytest.fail(f"{CHROMIUM} is missing and apt-get is not available: install Chromium to run the browser tests.")
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]):
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                pytest.fail(f"{CHROMIUM} is missing and `{' '.join(cmd)}` failed (root and network needed): {done.stderr.strip()[-500:]}")
    return CHROMIUM


def _chromium(binary: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)


def test_browser_renders_sorts_and_screenshots(chromium, site, tmp_path):
    url = (site / "index.html").as_uri()
    done = _chromium(chromium, tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", url + "#selftest")
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line or "Failed to load" in line]
    assert not console, console  # the page logs nothing: no errors, no missing assets
    found = re.search(r'<pre id="selftest-result">(.*?)</pre>', done.stdout, re.S)
    assert found, "the self-test did not run"
    result = json.loads(html_lib.unescape(found.group(1)))
    assert result["errors"] == []
    checks = result["checks"]
    assert checks["sortedDescending"] and checks["sortedAscending"] and checks["ariaSort"] == "ascending"
    values = [v for v in checks["descending"] if v is not None]
    assert len(values) >= 3 and values == sorted(values, reverse=True)
    assert checks["significanceShown"] == 1 and checks["perQueryRows"] > 0 and checks["plots"] >= 3

    shot = tmp_path / "leaderboard.png"
    done = _chromium(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1400,2000", "--hide-scrollbars", url)
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", done.stderr[-2000:]
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank one
    keep = Path(__file__).resolve().parent.parent / ".pytest_cache" / "leaderboard.png"
    keep.parent.mkdir(exist_ok=True)
    shutil.copyfile(shot, keep)

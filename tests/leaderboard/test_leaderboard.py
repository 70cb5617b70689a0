"""Leaderboard: statistics checked against scipy and by hand, a site built from real result files
(MiniLM on the sample FollowIR task and on a SciFact subset), deterministic bytes, bad files
skipped by name, matched-budget groups, publishing, and a real headless Chromium."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import html as html_lib
import json
import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from harness.errors import IfirError
from harness.metrics import significance as stats
from leaderboard.collect import collect
from leaderboard.public import public_path, scrub_command
from leaderboard.publish import publish_dir, publish_git
from leaderboard.render import build_site

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
                         command="pytest tests/leaderboard/test_leaderboard.py (real run)")
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
    """The real results plus trained fixtures: standard / dual-view at budget 1000 (two seeds), and
    standard / diversity / dual-view at budget 4000 (three seeds)."""
    root = tmp_path_factory.mktemp("results_cards")
    shutil.copytree(real_results, root, dirs_exist_ok=True)
    for source in sorted(real_results.rglob("*.json")):
        if json.loads(source.read_text(encoding="utf-8"))["model"]["kind"] != "dense":
            continue  # the trained fixtures are copies of the MiniLM results only
        for mix, budget, shift, seeds in (("standard", 1000, 0.0, 2), ("dual-view", 1000, 0.08, 2),
                                          ("standard", 4000, 0.02, 3), ("diversity", 4000, 0.03, 3), ("dual-view", 4000, 0.12, 3)):
            for seed in range(seeds):
                make_trained_fixture(source, root, mix=mix, budget=budget, seed=seed, shift=shift)
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


# ---- hand-written result files in the formats of the contracts --------------------------------

NOW = "2026-11-20T10:00:00+00:00"


def hand_result(model: str, revision: str, task: str, per_query: dict, *, kind: str = "retrieval", family: str | None = None,
                measures: tuple = ("nDCG@10",), main: str | None = None, command: str = "ifir-bench run --model m --tasks t",
                extra: dict | None = None, identity: dict | None = None, created_at: str = NOW, n_queries: int | None = None,
                **more) -> dict:
    """A result record as `harness.runner` writes it, its metrics the means of the per-query values
    (FollowIR layout: p-MRR per base query, og / changed measures per query)."""

    def mean(values: dict) -> float:
        return float(np.mean(list(values.values())))

    metrics = {k: ({m: mean(v) for m, v in val.items()} if all(isinstance(x, dict) for x in val.values()) else mean(val))
               for k, val in per_query.items()}
    record = {"name": task, "kind": kind, "source": f"org/{task}", "revision": "0" * 40, "split": "test",
              "measures": list(measures), "main_measure": main or ("p-MRR" if kind == "instruction-reranking" else measures[0]),
              "n_queries": n_queries or len(next(iter(per_query.values()))), "n_documents": 1000}
    if family:
        record["family"] = family
    data = {"schema_version": 1, "task": record, "model": {"name": model, "revision": revision, "kind": "dense", "extra": extra or {}},
            "metrics": metrics, "main_score": metrics[record["main_measure"]] if record["main_measure"] in metrics else None,
            "per_query": per_query,
            "provenance": {"command": command, "created_at": created_at, "git_commit": "a" * 40, "device": "cpu (x86_64, 2 cores)",
                           "seconds": {"load": 1.0, "encode_documents": 9.0, "encode_queries": 0.5, "search": 0.5, "score": 0.1}}}
    if identity is not None:
        data["identity"] = identity
        data["identity_hash"] = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    for key, value in more.items():
        if key == "throughput":
            data["provenance"]["throughput"] = value
        else:
            data[key] = value
    return data


def write_result(root: Path, data: dict, name: str | None = None) -> Path:
    """The result file and a small TREC run beside it, laid out as results.result_path does."""
    from harness.cache import slug

    folder = root / slug(data["model"]["name"]) / slug(str(data["model"]["revision"]))[:40]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{slug(data['task']['name'])}.json")
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    path.with_suffix(".run.trec").write_text("q1 Q0 d1 1 0.900000 m\nq1 Q0 d2 2 0.800000 m\n", encoding="utf-8")
    return path


def identity_for(model: str, task: str, *, template: str = "{instruction} {query}", query_prompt: str = "", rerank: bool = False) -> dict:
    """An `identity` as harness.runner records it: the model's vector identity and query template,
    the task's name, kind, data fingerprint and split, the measures, the tie rule, and the top-k of
    full retrieval (absent where a task reranks given candidates)."""
    identity = {"model": {"name": model, "revision": "r1", "query_prompt": query_prompt, "doc_prompt": "", "max_seq_length": 256,
                          "backend": "torch", "precision": "float32", "query_template": template},
                "task": {"name": task, "kind": "instruction-reranking" if rerank else "retrieval", "data": "sha256:" + task[:4] + "+0a1b2c",
                         "split": "test"},
                "measures": ["nDCG@10"], "tie_rule": "score desc, then doc id"}
    if not rerank:
        identity["top_k"] = 1000
    return identity


def card(base: str, *, mix: str, budget: int, seed: int, source: str = "../shared/data/scifact", lr: float = 2e-5) -> dict:
    return {"schema_version": 1, "base_model": {"name": base, "revision": "r1"},
            "data": {"source": source, "split": "train", "budget": budget, "mix": mix, "n_examples": budget},
            "llm": {"backend": "none", "model": "tfidf"}, "config": {"file": "cpu.yaml", "train": {"lr": lr, "epochs": 1}},
            "seed": seed, "seconds": 10.0 + seed, "examples_per_second": 6.4, "loss_curve": [[0, 2.0], [8, 1.25]],
            "created_at": NOW, "command": f"ifir-bench train-dualview --mix {mix} --budget {budget} --seed {seed}"}


def client_data(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="lb-data">(.*?)</script>', html, re.S).group(1))


def cell_value(html: str, label_start: str, column_key: str) -> float | None:
    """The value (data-v) of one column of one row of the main table."""
    index = int(re.search(r'data-index="(\d+)" data-col="' + re.escape(column_key) + '"', html).group(1))
    cells = re.findall(r'<td class="[^"]*" data-v="([^"]*)"', main_row(html, label_start))
    return float(cells[index]) if cells[index] else None


def main_row(html: str, label_start: str) -> str:
    """The main table's row whose full label starts with `label_start`."""
    for row in re.findall(r'<tr data-model="\d+">\n<td class="model-col" data-v="(?:(?!</tr>).)*</tr>', html, re.S):
        if html_lib.unescape(row.split('data-v="', 1)[1]).startswith(label_start):
            return row
    raise AssertionError(f"no row {label_start!r}")


# ---- the site from real results ----------------------------------------------------------------

def test_site_is_rebuilt_from_the_files(site, results_with_cards):
    html = (site / "index.html").read_text(encoding="utf-8")
    assert "cdn" not in html.lower() and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html
    cells = re.findall(r'<td class="num[^"]*" data-v="([^"]*)" data-files="([^"]+)"><a href="([^"]+)" title="([^"]*)">', html)
    assert len(cells) >= 5 * 6
    col = collect(results_with_cards)
    averaged = 0
    for value, hrefs, href, title in cells:
        numbers = []
        for h in hrefs.split():
            target = site / h.replace("%40", "@")
            assert target.is_file(), h
            data = json.loads(target.read_text(encoding="utf-8"))
            numbers.append([v for c in col.columns if c.task == data["task"]["name"] and (v := c.value(data)) is not None])
        if len(numbers) == 1:
            assert "command: " + data["provenance"]["command"] in html_lib.unescape(title)
            assert float(value) in numbers[0]
        else:  # seeds of one recipe: the cell is the mean of the same column in each seed's file
            averaged += 1
            assert any(float(value) == pytest.approx(np.mean(column)) for column in zip(*numbers))
    assert averaged >= 10
    assert (site / "static" / "app.js").is_file() and (site / "static" / "style.css").is_file()
    assert not list((site / "results").rglob("*.trec*"))  # runs are left out unless asked (--with-runs)


def test_site_sections(site):
    html = (site / "index.html").read_text(encoding="utf-8")
    assert html.count("<svg") >= 3  # scatter + two budget curves
    assert '<td class="model-col" data-v="bm25' in html  # the real Lucene BM25 runs have their row
    assert 'id="plot-pmrr-vs-general"' in html
    assert "budget 1000" in html and "budget 4000" in html and "3 seeds (0, 1, 2)" in html
    # the dual-view fixture is shifted +8..12 points per query: its difference to the standard mix is significant
    assert re.search(r'class="delta sig"[^>]*>\+\d+\.\d+ \(p=[0-9.<]+\) ●', html)
    assert re.search(r"<td>\d+\. dual-view − \d+\. standard</td>\n<td class=\"num sig\"", html)
    assert "(untrained base)" in html
    assert "<td>none: fixture</td>" in html  # the LLM named by the training card
    # the diversity fixture at budget 1000 has no scifact-subset result: a blank cell there
    row = main_row(html, "test-fixture/minilm-diversity@fixture-budget1000")
    assert '<td class="num" data-v="">' in row
    data = client_data(html)
    assert data["nPermutations"] == stats.N_PERMUTATIONS and data["tests"]
    n, diff, p, mean_a, mean_b = next(iter(data["tests"].values()))
    assert 0 < p <= 1 and n > 0 and diff == pytest.approx(mean_a - mean_b, abs=1e-6)
    # default comparison: a trained model (dual-view, largest budget) against its untrained base model
    a, b = data["models"][data["modelA"]]["label"], data["models"][data["baseline"]]["label"]
    assert "dual-view, budget 4000" in a and b.startswith("sentence-transformers/all-MiniLM-L6-v2@")
    # the scatter plots trained models too (diamonds, listed in its legend)
    legend = re.search(r'id="plot-pmrr-vs-general">.*?<ol class="legend">(.*?)</ol>', html, re.S).group(1)
    assert "dual-view, budget 4000 (seeds 0, 1, 2)" in legend and 'class="swatch trained"' in legend


def test_build_is_deterministic(results_with_cards, tmp_path):
    build_site(results_with_cards, tmp_path / "a", with_runs=True)
    build_site(results_with_cards, tmp_path / "b", with_runs=True)
    build_site(results_with_cards, tmp_path / "a", with_runs=True)  # rebuilding in place gives the same bytes too
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_runs_are_gzipped_on_request_and_the_site_stays_small(results_with_cards, site, tmp_path):
    out = tmp_path / "with-runs"
    result = CliRunner().invoke(_cli(), ["leaderboard", "build", str(results_with_cards), "--out", str(out), "--with-runs"])
    assert result.exit_code == 0, result.output
    runs = sorted((out / "results").rglob("*.run.trec.gz"))
    originals = sorted(results_with_cards.rglob("*.run.trec"))
    assert len(runs) == len(originals) and "TREC run (gz)" in (out / "index.html").read_text(encoding="utf-8")
    for gz in runs:  # the same run, byte for byte, once unzipped
        source = results_with_cards / gz.relative_to(out / "results").with_suffix("")
        assert gzip.decompress(gz.read_bytes()) == source.read_bytes()
    size = lambda root: sum(p.stat().st_size for p in root.rglob("*") if p.is_file())  # noqa: E731
    assert size(site) <= 5_000_000
    assert size(out) < size(site) + sum(p.stat().st_size for p in originals) / 3  # gzip at least 3x


def test_bad_files_are_reported_and_skipped(real_results, tmp_path):
    root = tmp_path / "results"
    shutil.copytree(real_results, root)
    bad = _bad_files(root)
    good = json.loads(sorted(root.rglob("sample.json"))[0].read_text(encoding="utf-8"))
    for key, part, field in (("numeric_model", "model", "name"), ("numeric_task", "task", "name")):
        data = json.loads(json.dumps(good))
        data[part][field] = 123
        bad[key] = root / "bad" / f"{key}.json"
        bad[key].write_text(json.dumps(data), encoding="utf-8")
    hidden = root / "minilm" / ".sample-copy.json"
    hidden.parent.mkdir(exist_ok=True)
    hidden.write_text(json.dumps(good), encoding="utf-8")
    (root / ".ipynb_checkpoints").mkdir()
    (root / ".ipynb_checkpoints" / "sample-checkpoint.json").write_text(json.dumps(good), encoding="utf-8")
    result = CliRunner().invoke(_cli(), ["leaderboard", "build", str(root), "--out", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    for key, path in bad.items():
        rel = path.relative_to(root).as_posix()
        assert rel in result.output and f"skipped {rel}" in html, key
    assert "not valid JSON" in html and "schema_version 0" in html and "missing field(s) per_query" in html
    assert "&#39;model.name&#39; is 123, not a name" in html and "&#39;task.name&#39; is 123, not a name" in html
    # hidden files and folders are named, not silently ignored
    assert "not read minilm/.sample-copy.json: names starting with &#39;.&#39;" in html
    assert "not read 1 .json file(s) under .ipynb_checkpoints/" in html and ".ipynb_checkpoints" in result.output
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


# ---- what is published: secrets, paths, script-safe data -----------------------------------------

def test_scrub_command_by_hand():
    root = "/home/ann/work/results"
    cmd = ("python: /home/ann/venv/bin/ifir-bench run --model /home/ann/work/models/dv --tasks sample,/home/ann/work/data/scifact "
           "--api-key sk-live-123 --hf-token=hf_abc --max-tokens 512 --llm http://ann:s3cret@gpu.local:8000/v1 --output /home/ann/work/results/x")
    assert scrub_command(cmd, root) == (
        "python: ifir-bench run --model ../models/dv --tasks sample,../data/scifact --api-key REDACTED --hf-token=REDACTED "
        "--max-tokens 512 --llm http://REDACTED@gpu.local:8000/v1 --output x")
    assert scrub_command("OPENAI_API_KEY=sk-1 ifir-bench run --secret x --token y", root) == "OPENAI_API_KEY=REDACTED ifir-bench run --secret REDACTED --token REDACTED"
    assert scrub_command("ifir-bench run --tasks /srv/data/nfcorpus", root) == "ifir-bench run --tasks .../data/nfcorpus"
    assert public_path("/home/ann/work/results", root) == "."
    assert scrub_command("ifir-bench run --tasks 'unbalanced", root) == "ifir-bench run --tasks 'unbalanced"


def test_secrets_and_local_paths_are_never_published(tmp_path):
    root = tmp_path / "results"
    absolute = str(root.resolve())
    secrets = ("sk-live-123", "hf_abcdef", "s3cret", "ghp_token42")
    qids = {f"q{i}": 0.5 + i / 100 for i in range(10)}
    command = (f"python: /opt/venv/bin/ifir-bench run --model {absolute}/../models/dv --tasks {absolute}/../data/scifact "
               f"--api-key sk-live-123 --hf-token=hf_abcdef --llm http://ann:s3cret@gpu.local:8000/v1 --output {absolute}")
    trained = card("minilm", mix="dual-view", budget=64, seed=0)
    trained["command"] = "ifir-bench train-dualview --llm-api-key ghp_token42 --out " + absolute + "/../models/dv"
    trained["data"]["synthesis_file"] = absolute + "/../models/dv/synthesis.jsonl"
    data = hand_result("dv", "r1", "scifact", {"nDCG@10": qids}, command=command, extra={"training_card": trained})
    data["task"]["source"] = absolute + "/../data/scifact"
    data["model"]["spec"] = absolute + "/../models/dv"
    write_result(root, data)
    out = tmp_path / "site"
    build_site(root, out, with_runs=True)
    published = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file() and p.suffix != ".gz")
    for secret in secrets:
        assert secret.encode() not in published, secret
    assert absolute.encode() not in published and str(tmp_path).encode() not in published
    copy = json.loads(next((out / "results").rglob("scifact.json")).read_text(encoding="utf-8"))
    assert copy["provenance"]["command"] == ("python: ifir-bench run --model ../models/dv --tasks ../data/scifact --api-key REDACTED "
                                             "--hf-token=REDACTED --llm http://REDACTED@gpu.local:8000/v1 --output .")
    assert copy["task"]["source"] == "../data/scifact" and copy["model"]["spec"] == "../models/dv"
    assert copy["model"]["extra"]["training_card"]["data"]["synthesis_file"] == "../models/dv/synthesis.jsonl"
    assert copy["per_query"] == data["per_query"] and copy["metrics"] == data["metrics"]  # the numbers are untouched


def test_names_cannot_break_the_page_script(tmp_path):
    root = tmp_path / "results"
    evil = "x<!--<script></script><b>&amp;"
    write_result(root, hand_result(evil, "r1", "scifact", {"nDCG@10": {"q1": 0.5, "q2": 0.7}}))
    write_result(root, hand_result("plain", "r1", "scifact", {"nDCG@10": {"q1": 0.4, "q2": 0.6}}))
    build_site(root, tmp_path / "site")
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    block = re.search(r'<script type="application/json" id="lb-data">(.*?)</script>', html, re.S).group(1)
    assert "<" not in block and ">" not in block and "&" not in block
    assert client_data(html)["models"][1]["label"] == evil + "@r1"  # JSON.parse gives the name back unchanged
    assert "<!--" not in html.split('<script type="application/json"')[1]


# ---- seeds, mixes, identity variants, families, paraphrases, latency ------------------------------

@pytest.fixture()
def hand_results(tmp_path) -> Path:
    """Hand-written result files in the contract formats: a base model, three mixes x three seeds with
    known per-query values, two template variants, the new families, paraphrases and throughput."""
    root = tmp_path / "results"
    queries = [f"q{i:02d}" for i in range(16)]
    base = {q: 0.40 + 0.02 * (i % 5) for i, q in enumerate(queries)}
    pairs = [f"{i}" for i in range(8)]
    write_result(root, hand_result("minilm", "r1", "scifact", {"nDCG@10": base}, identity=identity_for("minilm", "scifact"),
                                   throughput={"documents_per_s": 200.0, "queries_per_s": 80.0}))
    # NevIR as harness.metrics.family scores it: R@1 per query <pair>_q1 / <pair>_q2, paired accuracy per pair
    recall = {f"{p}_q{k}": float(int(p) % 3 != 0 or k == 1) for p in pairs for k in (1, 2)}
    write_result(root, hand_result("minilm", "r1", "nevir", {"paired-accuracy": {p: float(int(p) % 3 != 0) for p in pairs}, "R@1": recall},
                                   family="nevir", measures=("R@1", "nDCG@10"), main="paired-accuracy", identity=identity_for("minilm", "nevir"),
                                   throughput={"documents_per_s": 200.0, "queries_per_s": 20.0}, n_queries=16))
    # a second template of the same model: its own row, labelled by what differs
    write_result(root, hand_result("minilm", "r1", "scifact", {"nDCG@10": {q: v + 0.01 for q, v in base.items()}},
                                   identity=identity_for("minilm", "scifact", template="query: {query} instruction: {instruction}"),
                                   variant={"template": "query: {query} instruction: {instruction}"}),
                 name="scifact.3f9a1c2e7b4d.json")  # a different identity never reuses a file
    # and a --top-k 100 run: the identity records top_k for full retrieval, the variant names it
    topk = identity_for("minilm", "scifact")
    topk["top_k"] = 100
    write_result(root, hand_result("minilm", "r1", "scifact", {"nDCG@10": {q: v - 0.01 for q, v in base.items()}}, identity=topk,
                                   variant={"top_k": 100}), name="scifact.5d2e8a1f0c3b.json")
    shifts = {"standard": 0.0, "diversity": 0.01, "dual-view": 0.05}
    for mix, shift in shifts.items():
        for seed in range(3):
            per_query = {q: v + shift + 0.01 * seed * (1 if i % 2 else -1) for i, (q, v) in enumerate(base.items())}
            data = hand_result(f"minilm-{mix}-s{seed}", "local", "scifact", {"nDCG@10": per_query},
                               extra={"training_card": card("minilm", mix=mix, budget=64, seed=seed)},
                               identity=identity_for(f"minilm-{mix}-s{seed}", "scifact"))
            write_result(root, data)
    # one more dual-view run with another learning rate: not averaged with the others
    data = hand_result("minilm-dual-view-lr", "local", "scifact", {"nDCG@10": {q: v + 0.2 for q, v in base.items()}},
                       extra={"training_card": card("minilm", mix="dual-view", budget=64, seed=0, lr=1e-4)},
                       identity=identity_for("minilm-dual-view-lr", "scifact"))
    write_result(root, data)
    # new families: InstructIR (Robustness@10 per base query, nDCG@10 per instance <base>_<n>) with paraphrases;
    # IFIR with its level sub-scores; mFollowIR
    instances = {f"{b}_{i}": 0.3 + 0.1 * i + 0.01 * b for b in range(4) for i in range(3)}
    robust = {f"{b}": min(v for k, v in instances.items() if k.startswith(f"{b}_")) for b in range(4)}
    write_result(root, hand_result("minilm", "r1", "instructir", {"Robustness@10": robust, "nDCG@10": instances}, family="instructir",
                                   measures=("nDCG@10",), main="Robustness@10", identity=identity_for("minilm", "instructir"), n_queries=12,
                                   paraphrases={"source": "default", "n": 3, "measure": "Robustness@10",
                                                "values": [{"paraphrase": "Find passages that follow: {instruction}", "value": 0.31},
                                                           {"paraphrase": "{instruction}", "value": 0.33},
                                                           {"paraphrase": "Retrieve documents; {instruction}", "value": 0.26}],
                                                "mean": 0.30, "sd": 0.036055, "min": 0.26}))
    levels = {f"q{i}-v{1 + i % 3}": 0.1 * (i % 7) for i in range(9)}
    ifir = hand_result("minilm", "r1", "ifir-fiqa", {"nDCG@20": levels}, family="ifir", measures=("nDCG@20",), identity=identity_for("minilm", "ifir-fiqa"))
    for level in (1, 2, 3):
        ifir["metrics"][f"nDCG@20/level-{level}"] = float(np.mean([v for q, v in levels.items() if q.endswith(f"v{level}")]))
    write_result(root, ifir)
    og = {f"t{t}-og": 0.2 + 0.05 * t for t in range(4)}
    changed = {f"t{t}-changed": 0.1 + 0.05 * t for t in range(4)}
    write_result(root, hand_result("minilm", "r1", "mfollowir-fas", {"p-MRR": {f"t{t}": 0.02 * t - 0.01 for t in range(4)},
                                                                     "og": {"nDCG@20": og}, "changed": {"nDCG@20": changed}},
                                   kind="instruction-reranking", family="mfollowir", measures=("nDCG@20",), identity=identity_for("minilm", "mfollowir-fas", rerank=True),
                                   n_queries=8))
    return root


def test_seeds_average_into_one_row_with_their_spread(hand_results, tmp_path):
    col = collect(hand_results)
    trained = {r.mix: r for r in col.rows if r.card and len(r.instances) > 1}
    assert sorted(trained) == ["diversity", "dual-view", "standard"] and all(r.seeds == [0, 1, 2] for r in trained.values())
    lr_rows = [r for r in col.rows if r.card and len(r.instances) == 1]
    assert len(lr_rows) == 1 and "config.train.lr=0.0001" in lr_rows[0].variant  # another recipe: its own row, named by what differs
    assert trained["dual-view"].variant == "config.train.lr=2e-05" and not trained["standard"].variant
    build_site(hand_results, tmp_path / "site")
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    # by hand: the base mean is 0.40 + 0.02 * mean(i % 5 for i < 16) = 0.40 + 0.02 * 30 / 16 = 0.4375; seed s
    # moves the 8 odd queries by +0.01 s and the 8 even ones by -0.01 s, so every seed's mean is the base
    # mean plus the mix's shift: dual-view 0.4875 in each seed, sd 0
    row = main_row(html, "minilm + dual-view, budget 64 (seeds 0, 1, 2)")
    assert 'data-v="0.4875"' in row and "±0.0000" in row
    # the averaged per-query values give the paired test: dual-view minus standard is +0.05 on every query
    data = client_data(html)
    i = [m["label"] for m in data["models"]].index(trained["dual-view"].label)
    j = [m["label"] for m in data["models"]].index(trained["standard"].label)
    a, b = data["perQuery"]["scifact::nDCG@10"][str(i)], data["perQuery"]["scifact::nDCG@10"][str(j)]
    assert all(a[q] - b[q] == pytest.approx(0.05) for q in a) and len(a) == 16
    scipy_stats = pytest.importorskip("scipy.stats")
    qs = sorted(a)
    reference = scipy_stats.permutation_test(([a[q] for q in qs], [b[q] for q in qs]), lambda x, y, axis: np.mean(x - y, axis=axis),
                                             permutation_type="samples", vectorized=True, n_resamples=stats.N_PERMUTATIONS,
                                             alternative="two-sided", rng=0).pvalue
    key = f"scifact::nDCG@10|{min(i, j)}|{max(i, j)}"
    assert data["tests"][key][2] == pytest.approx(reference, abs=0.002)  # all 16 signs agree: p = 2/2^16 (exact) or 1/10001 (sampled)
    group = html.split("budget 64, data ../shared/data/scifact")[1].split('<div class="group">')[0]
    # the untrained base shown is the base model's row with the trained models' own template
    base_label = re.search(r'<tr class=" base">\n<td>\(untrained base\)</td>\n<td class="label-col"[^>]*>([^<]*)</td>', group).group(1)
    assert html_lib.unescape(base_label).endswith('minilm@r1 [query_template="{instruction} {query}"]')
    for a, b in (("dual-view", "standard"), ("diversity", "standard"), ("dual-view", "diversity"), ("dual-view", "base")):
        assert re.search(rf"<td>\d+\. {a}( \[[^]]*\])? − \d+\. {b}</td>", group), (a, b)


def test_identity_variants_are_rows_labelled_by_what_differs(hand_results):
    col = collect(hand_results)
    minilm = [r for r in col.rows if r.name == "minilm" and r.card is None]
    assert len(minilm) == 3
    labels = sorted(r.variant for r in minilm)
    assert labels == ['query_template="query: {query} instruction: {instruction}"', 'query_template="{instruction} {query}"',
                      'query_template="{instruction} {query}", top_k=100']
    default = next(r for r in minilm if "{instruction} {query}" in r.variant)
    assert sorted(i for i in default.first.entries) == ["ifir-fiqa", "instructir", "mfollowir-fas", "nevir", "scifact"]  # task side ignored


def test_family_groups_paraphrases_latency_and_per_query_views(hand_results, tmp_path):
    build_site(hand_results, tmp_path / "site")
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    families = re.findall(r'<th colspan="\d+" class="family-head">([^<]+)</th>', html)
    assert families == ["mFollowIR", "InstructIR", "IFIR", "NevIR", "BEIR"]  # family order (scifact: no family, a hub id -> BEIR)
    data = client_data(html)
    assert data["tasks"] == ["mfollowir-fas", "instructir", "ifir-fiqa", "nevir", "scifact"]
    # IFIR: nDCG@20 then its level sub-scores, by hand: levels 1, 2, 3 hold queries 0,3,6 / 1,4,7 / 2,5,8
    headers = re.findall(r'data-col="ifir-fiqa::([^"]+)"', html)
    assert headers == ["nDCG@20", "nDCG@20/level-1", "nDCG@20/level-2", "nDCG@20/level-3"]
    row_label = 'minilm@r1 [query_template="{instruction} {query}"]'
    levels = [cell_value(html, row_label, f"ifir-fiqa::nDCG@20/level-{n}") for n in (1, 2, 3)]
    assert levels == pytest.approx([(0 + 0.3 + 0.6) / 3, (0.1 + 0.4 + 0.0) / 3, (0.2 + 0.5 + 0.1) / 3])
    # per-query views for the new layouts: InstructIR per base query and per instance, mFollowIR p-MRR and og/changed
    assert [m["key"] for m in data["measures"]["instructir"]] == ["instructir::Robustness@10", "instructir::nDCG@10"]
    assert [m["key"] for m in data["measures"]["nevir"]] == ["nevir::paired-accuracy", "nevir::R@1"]
    assert {m["key"] for m in data["measures"]["mfollowir-fas"]} == {"mfollowir-fas::p-MRR", "mfollowir-fas::og/nDCG@20", "mfollowir-fas::changed/nDCG@20"}
    i = str([m["label"] for m in data["models"]].index('minilm@r1 [query_template="{instruction} {query}"]'))
    assert len(data["perQuery"]["instructir::nDCG@10"][i]) == 12 and len(data["perQuery"]["mfollowir-fas::p-MRR"][i]) == 4
    # paraphrase robustness: mean / sd / min columns with each paraphrase in the hover text
    row = main_row(html, 'minilm@r1 [query_template="{instruction} {query}"]')
    paraphrased = [cell_value(html, row_label, f"instructir::paraphrases/{part}") for part in ("mean", "sd", "min")]
    assert paraphrased == [0.30, 0.036055, 0.26]
    assert "Retrieve documents; {instruction}" in html_lib.unescape(row)
    # latency: queries/s over the row's files = total queries / total query time: (16 + 16 + 12 + 9 + 8) queries;
    # 80 q/s and 20 q/s recorded, and 1.0 s (encode_queries 0.5 + search 0.5) for each of the three others
    seconds = 16 / 80 + 16 / 20 + 1.0 + 1.0 + 1.0
    latency = re.search(r'<td class="num latency[^"]*" data-v="([0-9.]+)"', row).group(1)
    assert float(latency) == pytest.approx(61 / seconds)
    assert "cpu (x86_64, 2 cores) · torch" in row


def test_family_averages_never_mix_measures(tmp_path):
    """A family holding a p-MRR task and two nDCG@10 tasks averages the two nDCG@10 tasks only."""
    root = tmp_path / "results"
    followir = {"p-MRR": {"t1": 0.1, "t2": -0.3}, "og": {"nDCG@5": {"t1-og": 0.5, "t2-og": 0.4}},
                "changed": {"nDCG@5": {"t1-changed": 0.3, "t2-changed": 0.6}}}
    write_result(root, hand_result("m", "r0", "mine-followir", followir, kind="instruction-reranking", family="local", measures=("nDCG@5",)))
    write_result(root, hand_result("m", "r0", "mine-a", {"nDCG@10": {"q1": 0.2, "q2": 0.4}}, family="local"))
    write_result(root, hand_result("m", "r0", "mine-b", {"nDCG@10": {"q1": 0.6, "q2": 0.8}}, family="local"))
    build_site(root, tmp_path / "site")
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    averages = re.findall(r'class="avg-head" title="([^"]*)">([^<]*)</th>', html)
    assert averages == [("local: mean nDCG@10 over mine-a, mine-b", "local avg nDCG@10")]
    assert re.search(r'<td class="num avg[^"]*" data-v="0.5" title="mean of 2 of 2 tasks: mine-a, mine-b">0.5000</td>', html)  # (0.3 + 0.7) / 2


def test_older_result_files_still_build(tmp_path):
    """No identity, family, throughput or paraphrases: one row per model, FollowIR/local families, blank latency."""
    root = tmp_path / "results"
    data = hand_result("old", "r0", "sample", {"p-MRR": {"t1": 0.1, "t2": -0.1}, "og": {"nDCG@5": {"t1-og": 0.5, "t2-og": 0.4}},
                                               "changed": {"nDCG@5": {"t1-changed": 0.3, "t2-changed": 0.6}}},
                       kind="instruction-reranking", measures=("nDCG@5",))
    del data["provenance"]["seconds"]
    write_result(root, data)
    build_site(root, tmp_path / "site")
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert re.findall(r'class="family-head">([^<]+)<', html) == ["FollowIR"]
    assert 'title="queries/s not recorded in these result files (older format)"' in html


# ---- a real browser ----------------------------------------------------------------------------

def find_chromium() -> Path | None:
    """Debian's chromium (installed by `.ci/run`'s first line; no test installs anything)."""
    for name in ("chromium", "chromium-browser", "chromium-headless-shell", "google-chrome"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def require_chromium(found: Path | None) -> Path:
    """The browser, or a clear failure under CI (CI=true), or a skip that says why elsewhere."""
    if found is not None:
        return found
    message = "Chromium is not installed (Debian: apt-get install -y chromium; .ci/run installs it on its first line)."
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " CI=true: the browser test must run.")
    pytest.skip(message)


def test_missing_chromium_fails_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="Chromium is not installed"):
        require_chromium(None)
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        require_chromium(None)


@pytest.fixture(scope="session")
def chromium() -> Path:
    return require_chromium(find_chromium())


def _chromium(binary: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)


def _selftest(chromium: Path, tmp: Path, url: str, width: int) -> dict:
    done = _chromium(chromium, tmp, "--enable-logging=stderr", "--v=0", f"--window-size={width},2000", "--dump-dom", url + "#selftest")
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line or "Failed to load" in line]
    assert not console, console  # the page logs nothing: no errors, no missing assets
    found = re.search(r'<pre id="selftest-result">(.*?)</pre>', done.stdout, re.S)
    assert found, "the self-test did not run"
    result = json.loads(html_lib.unescape(found.group(1)))
    assert result["errors"] == []
    return result["checks"]


def test_browser_renders_sorts_and_screenshots(chromium, site, tmp_path):
    url = (site / "index.html").as_uri()
    keep = Path(__file__).resolve().parents[2] / ".pytest_cache"
    keep.mkdir(exist_ok=True)
    for width in (1400, 420):
        checks = _selftest(chromium, tmp_path, url, width)
        assert checks["sortedDescending"] and checks["sortedAscending"] and checks["ariaSort"] == "ascending"
        values = [v for v in checks["descending"] if v is not None]
        assert len(values) >= 3 and values == sorted(values, reverse=True)
        assert checks["significanceShown"] == 1 and checks["perQueryRows"] > 0 and checks["plots"] >= 3
        assert checks["clipped"] == [], (width, checks["clipped"])  # no label cut, no drop-down past the page's edge
        shot = tmp_path / f"leaderboard-{width}.png"
        done = _chromium(chromium, tmp_path, f"--screenshot={shot}", f"--window-size={width},2400", "--hide-scrollbars", url)
        assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", done.stderr[-2000:]
        assert shot.stat().st_size > 50_000  # a rendered page, not a blank one
        shutil.copyfile(shot, keep / shot.name)


def test_browser_survives_a_hostile_model_name(chromium, tmp_path):
    root = tmp_path / "results"
    write_result(root, hand_result("x<!--<script>", "r1", "scifact", {"nDCG@10": {"q1": 0.5, "q2": 0.7, "q3": 0.2}}))
    write_result(root, hand_result("plain</script><script>alert(1)</script>", "r1", "scifact", {"nDCG@10": {"q1": 0.4, "q2": 0.6, "q3": 0.1}}))
    write_result(root, hand_result("third", "r1", "scifact", {"nDCG@10": {"q1": 0.3, "q2": 0.5, "q3": 0.3}}))
    build_site(root, tmp_path / "site")
    checks = _selftest(chromium, tmp_path, (tmp_path / "site" / "index.html").as_uri(), 1400)
    assert checks["sortedDescending"] and checks["significanceShown"] == 1 and checks["perQueryRows"] == 3


def test_breakdown_by_constraint_type_averages_seeds(tmp_path):
    """Results that carry a `breakdown` get a table by label: two seeds of one recipe with entity means
    1.0 and 0.5 show 0.7500 (by hand), the base 0.2500; the header gives the pairs per label."""
    root = tmp_path / "results"
    per_query = {"direction-accuracy": {"p0": 1.0, "p1": 0.0}}
    write_result(root, hand_result("minilm", "r1", "probe-test", per_query, main="direction-accuracy", measures=("direction-accuracy",),
                                   breakdown={"entity": {"n": 4, "mean": 0.25}, "design": {"n": 3, "mean": 0.5}}))
    for seed, ent in ((0, 1.0), (1, 0.5)):
        write_result(root, hand_result(f"dv-s{seed}", "r1", "probe-test", per_query, main="direction-accuracy",
                                       measures=("direction-accuracy",),
                                       extra={"training_card": card("minilm", mix="dual-view", budget=256, seed=seed)},
                                       breakdown={"entity": {"n": 4, "mean": ent}, "design": {"n": 3, "mean": 0.5}}))
    build_site(root, tmp_path / "site")
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    section = html.split('id="breakdown"')[1].split("</section>")[0]
    assert "<th>design<br><small>3</small></th><th>entity<br><small>4</small></th>" in section
    rows = re.findall(r"<tr><td class=\"label-col\">[^<]*</td>(.*?)</tr>", section)
    assert sorted(rows) == sorted(['<td class="num">0.5000</td><td class="num">0.2500</td>',
                                   '<td class="num">0.5000</td><td class="num">0.7500</td>'])


def _partial_average_results(root: Path) -> None:
    """bm25 and m3 on both local tasks (means 0.55 and 0.35); minilm and a pipeline on one each (0.9, 0.85)."""
    for model, task, values in (("bm25", "mine-a", (0.5, 0.7)), ("bm25", "mine-b", (0.4, 0.6)), ("m3", "mine-a", (0.3, 0.4)),
                                ("m3", "mine-b", (0.3, 0.4)), ("sentence-transformers/all-MiniLM-L6-v2", "mine-a", (0.9, 0.9)),
                                ("bm25 >> my-finetuned-cross-encoder-minilm", "mine-b", (0.8, 0.9))):
        write_result(root, hand_result(model, "r0", task, {"nDCG@10": dict(zip(("q1", "q2"), values))}, family="local"))


def test_partial_averages_are_never_bold(tmp_path):
    """A mean over one of two tasks (*) is not ranked against means over both: bm25's full mean is the
    best, though minilm's one-task mean is higher (issue 21)."""
    _partial_average_results(tmp_path / "results")
    build_site(tmp_path / "results", tmp_path / "site")
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    cells = re.findall(r'<td class="num avg([^"]*)" data-v="([0-9.]+)" title="mean of (\d) of 2 tasks', html)
    assert sorted((round(float(v), 4), n, "best" in cls) for cls, v, n in cells) == [
        (0.35, "2", False), (0.55, "2", True), (0.85, "1", False), (0.9, "1", False)]


def test_model_column_leaves_the_scores_in_view_on_a_phone(chromium, tmp_path):
    """At a phone's width the model column takes under 30% of the screen (it took 36% at 420 px) and
    long names wrap inside it, nothing cut."""
    _partial_average_results(tmp_path / "results")
    build_site(tmp_path / "results", tmp_path / "site")
    url = (tmp_path / "site" / "index.html").as_uri()
    checks = _selftest(chromium, tmp_path, url, 420)  # headless Chromium lays --dump-dom out at no less than 500 px
    assert checks["clipped"] == [] and checks["modelColumn"] <= 0.3 * checks["viewport"], checks
    shot = tmp_path / "leaderboard-420.png"
    _chromium(chromium, tmp_path, f"--screenshot={shot}", "--window-size=420,1400", "--hide-scrollbars", url)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep = Path(__file__).resolve().parents[2] / ".pytest_cache"
    keep.mkdir(exist_ok=True)
    shutil.copyfile(shot, keep / "leaderboard-model-column-420.png")

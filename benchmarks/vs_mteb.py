"""The harness beside mteb: the same model (the bundled all-MiniLM-L6-v2) on the same local BEIR data,
each as a whole fresh process, cold and warm; prints wall times, their ratios and both nDCG@10.

    pip install mteb        # for this benchmark only; the harness does not need it
    python benchmarks/vs_mteb.py [--data ../shared/data/msmarco-5k] [--batch-size 32] [--device cpu]
        [--backend openvino --quantize int8]

`--backend` / `--quantize` pick the harness's CPU backend (needs the `cpu` extra in the same
environment as mteb); mteb runs its default (torch) either way. A cold harness run then includes
the one-off export, as a user's first run does.

mteb reads the folder through a custom `AbsTaskRetrieval` (corpus, queries and qrels filled in
`load_data`), as it evaluates any local retrieval set offline. Runs, in this order:
- cold: empty caches and result folders (mteb: a fresh results cache; harness: a fresh
  `--cache-dir` and `--output`);
- warm: the same command again with its caches kept but its result removed, so the scores are
  computed again (mteb keeps no vectors, so it encodes again; the harness reads its vectors).
The machine's load average is printed: on a shared machine compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def mteb_side(data: Path, out: Path, batch_size: int, device: str) -> None:
    """Runs in its own process: mteb on the local folder; prints {"ndcg_at_10": ...} as the last line."""
    import mteb
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.task_metadata import TaskMetadata
    from sentence_transformers import SentenceTransformer

    from harness.data.local import load_local
    from harness.models.dense import bundled_minilm_path

    class LocalRetrieval(AbsTaskRetrieval):
        metadata = TaskMetadata(
            name="LocalRetrieval", description="A local BEIR folder.", reference=None, type="Retrieval",
            category="t2t", modalities=["text"], eval_splits=["test"], eval_langs=["eng-Latn"],
            main_score="ndcg_at_10", dataset={"path": str(data), "revision": "local"}, date=None, domains=None,
            task_subtypes=None, license=None, annotations_creators=None, dialect=None, sample_creation=None,
            bibtex_citation="",
        )  # fmt: skip

        def load_data(self, **kwargs) -> None:
            from datasets import Dataset

            task = load_local(data)  # the harness's reader: both sides see the same records
            corpus = Dataset.from_list([{"id": d.id, "title": d.title, "text": d.text} for d in task.corpus.values()])
            queries = Dataset.from_list([{"id": q.id, "text": q.text} for q in task.queries.values()])
            split = {"corpus": corpus, "queries": queries, "relevant_docs": task.qrels, "top_ranked": None}
            self.dataset = {"default": {"test": split}}
            self.data_loaded = True

    model = SentenceTransformer(bundled_minilm_path(), device=device)
    result = mteb.evaluate(
        model, LocalRetrieval(), cache=mteb.ResultCache(out), encode_kwargs={"batch_size": batch_size},
        overwrite_strategy="always", show_progress_bar=False,
    )  # fmt: skip
    print(json.dumps({"ndcg_at_10": result.task_results[0].get_score()}))


def run_process(cmd: list[str], env: dict) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, proc.stdout


def harness_ndcg(output: Path) -> float:
    (result,) = [p for p in output.rglob("*.json")]
    return json.loads(result.read_text())["metrics"]["nDCG@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "msmarco-5k")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backend", default="torch", help="The harness's backend: torch, onnx, openvino.")
    parser.add_argument("--quantize", default=None, help="The harness's quantization: int8.")
    parser.add_argument("--side", choices=["mteb"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side == "mteb":
        return mteb_side(args.data.resolve(), args.out, args.batch_size, args.device)
    try:
        import mteb  # noqa: F401
    except ImportError:
        sys.exit("This benchmark compares with mteb: pip install mteb")

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": str(REPO)}  # fmt: skip
    data = args.data.resolve()
    backend = args.backend + (f" {args.quantize}" if args.quantize else "")
    print(f"{data.name}: bundled all-MiniLM-L6-v2, batch {args.batch_size}, {args.device}, harness backend {backend} (mteb: torch), "
          f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ours = [sys.executable, "-m", "harness.cli", "run", "--model", "minilm", "--tasks", str(data), "--batch-size",
                str(args.batch_size), "--device", args.device, "--cache-dir", str(tmp / "cache"), "--output", str(tmp / "results"),
                "--backend", args.backend] + (["--quantize", args.quantize] if args.quantize else [])  # fmt: skip
        theirs = [sys.executable, __file__, "--side", "mteb", "--data", str(data), "--out", str(tmp / "mteb"),
                  "--batch-size", str(args.batch_size), "--device", args.device]  # fmt: skip
        times, ndcg = {}, {}
        for phase in ("cold", "warm"):
            times["harness", phase], _ = run_process(ours, env)
            ndcg["harness", phase] = harness_ndcg(tmp / "results")
            shutil.rmtree(tmp / "results")  # the next run computes its scores again
            if phase == "cold":
                shutil.rmtree(tmp / "mteb", ignore_errors=True)
            times["mteb", phase], out = run_process(theirs, env)
            ndcg["mteb", phase] = json.loads(out.strip().splitlines()[-1])["ndcg_at_10"]
            print(f"{phase}: harness {times['harness', phase]:7.1f} s, mteb {times['mteb', phase]:7.1f} s, "
                  f"ratio {times['harness', phase] / times['mteb', phase]:.2f}x{' (target <= 0.6x with the fastest CPU backend)' if phase == 'cold' else ''}; "
                  f"nDCG@10 harness {ndcg['harness', phase]:.5f}, mteb {ndcg['mteb', phase]:.5f}")  # fmt: skip
    print(f"harness warm / cold: {times['harness', 'warm'] / times['harness', 'cold']:.3f}x (target <= 0.05x); "
          f"mteb warm / cold: {times['mteb', 'warm'] / times['mteb', 'cold']:.3f}x")  # fmt: skip
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

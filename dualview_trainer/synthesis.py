"""Polarity reversal: an LLM writes, for each example, a complementary instruction under which the
hard negative becomes relevant and the positive does not; a validation step keeps or rejects it.

The output JSONL holds one line per finished example (kept or rejected, with the reason), appended
with flush + fsync, so an interrupted run resumes without repeating or losing examples.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from harness.errors import IfirError

from dualview_trainer import constraints as C
from dualview_trainer.contrast import PHRASINGS, SwapCheck
from dualview_trainer.examples import Example
from dualview_trainer.llm import Sampling
from dualview_trainer.rules import rules_hash

PROMPT_FILES = ("first_instruction", "complement", "judge")
REPLY_PREFIX = "Find documents"
"""Instructions are generated as a continuation of this prefix: small models then write an
instruction instead of chatting."""


def load_prompts(folder: Path | None = None) -> dict[str, str]:
    """The three templates (packaged, or from `folder`) by name."""
    out = {}
    for name in PROMPT_FILES:
        if folder is not None:
            out[name] = (Path(folder) / f"{name}.txt").read_text(encoding="utf-8")
        else:
            out[name] = resources.files("dualview_trainer").joinpath("prompts", f"{name}.txt").read_text(encoding="utf-8")
    return out


def prompt_hash(prompts: dict[str, str]) -> str:
    h = hashlib.sha256()
    for name in sorted(prompts):
        h.update(name.encode() + b"\0" + prompts[name].encode() + b"\0")
    return "sha256:" + h.hexdigest()[:16]


def contrast_hash() -> str:
    """The contrast backend's counterpart of the prompt hash: a hash of its phrasings."""
    return "sha256:" + hashlib.sha256(json.dumps(PHRASINGS, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Validation:
    """Simple checks, and the LLM judge (on by default)."""

    judge: bool = True
    judge_views: tuple[str, ...] = ("original", "complement")
    min_words: int = 3
    max_words: int = 60
    max_similarity: float = 0.9
    swap_check: bool = True
    """The LLM-free check that the labels swap (contrast.SwapCheck)."""


@dataclass
class SynthesisStats:
    kept: int = 0
    rejected: int = 0
    rejected_by_reason: Counter = field(default_factory=Counter)
    resumed: int = 0

    def to_dict(self) -> dict:
        return {"kept": self.kept, "rejected": self.rejected, "rejected_by_reason": dict(sorted(self.rejected_by_reason.items()))}


def truncate_words(text: str, n: int) -> str:
    words = text.split()
    return " ".join(words[:n]) + (" ..." if len(words) > n else "")


_PREFIX = re.compile(r"^(new |complementary |revised )?(instruction|answer)\s*[:\-]\s*", re.I)


def clean_instruction(text: str) -> str:
    """The first non-empty line, without a leading 'Instruction:' label or wrapping quotes."""
    line = next((l.strip() for l in text.splitlines() if l.strip()), "")
    line = _PREFIX.sub("", line).strip().strip("\"'`*").strip()
    return line


QUOTE_WORDS = 8  # an instruction repeating this many consecutive words of a document quotes it


def _quotes(text: str, doc: str, n: int = QUOTE_WORDS) -> bool:
    """Whether `text` repeats `n` consecutive words of `doc` (case and punctuation ignored)."""
    words, doc_words = re.findall(r"\w+", text.lower()), re.findall(r"\w+", doc.lower())
    grams = {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}
    return bool(grams) and any(tuple(doc_words[i : i + n]) in grams for i in range(len(doc_words) - n + 1))


def check_instruction(text: str, example: Example, validation: Validation, *, against: str = "") -> str | None:
    """The reason to reject an instruction, or None: empty, too short or long, a copy of the
    query, of `against` (the other instruction) or of a document, or a quotation of a document
    (which would make the instruction a lexical match for one document rather than a constraint)."""
    if not text:
        return "empty"
    n = len(text.split())
    if n < validation.min_words:
        return "too_short"
    if n > validation.max_words:
        return "too_long"
    norm = " ".join(text.lower().split())
    for name, other in (("query", example.query), ("instruction", against)):
        if other and difflib.SequenceMatcher(None, norm, " ".join(other.lower().split())).ratio() >= validation.max_similarity:
            return f"copy_of_{name}"
    for doc in (example.positive, example.negative):
        if len(norm) > 20 and norm in " ".join(doc.lower().split()):
            return "copy_of_document"
        if _quotes(text, doc):
            return "quotes_document"
    return None


def read_done(path: Path) -> dict[str, dict]:
    """Finished records by id; a truncated last line (an interrupted write) is dropped and the
    file cut back to its last complete line."""
    done: dict[str, dict] = {}
    if not path.exists():
        return done
    raw = path.read_bytes()
    good = 0
    for line in raw.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            break
        done[obj["id"]] = obj
        good += len(line)
    if good != len(raw):
        with open(path, "r+b") as f:
            f.truncate(good)
    return done


def append_record(f, record: dict) -> None:
    f.write(json.dumps(record, ensure_ascii=False) + "\n")
    f.flush()
    os.fsync(f.fileno())


class Synthesizer:
    """Writes and validates (instruction, complement) pairs: with an LLM (the paper's method), or
    with a `writer` that needs none (`rules.RuleSynthesizer`, `contrast.ContrastSynthesizer`). The
    LLM, where given, also judges.

    With `detectors` (`rules.Detectors`), the swap is checked by the attribute detectors: the
    written instruction and complement are read back as constraints and both documents tested
    against them; where the two documents differ in no detected attribute, or without detectors,
    the lexical `SwapCheck` decides. The LLM is told which attribute the detectors found."""

    def __init__(self, llm=None, *, writer=None, detectors=None, sampling: Sampling | None = None, validation: Validation | None = None,
                 prompts: dict[str, str] | None = None, doc_words: int = 60, chunk_size: int = 8):
        if llm is None and writer is None:
            raise IfirError("A synthesizer needs an LLM or an LLM-free writer (rules or contrast).")
        self.llm = llm
        self.writer = writer
        self.detectors = detectors
        self.sampling = sampling or Sampling()
        self.validation = validation or Validation()
        self.prompts = prompts or load_prompts()
        self.doc_words = doc_words
        self.chunk_size = chunk_size
        self.swap_check = SwapCheck() if self.validation.swap_check else None

    @property
    def judging(self) -> bool:
        return self.llm is not None and self.validation.judge

    def provenance(self) -> dict:
        if self.writer is not None:
            writer = self.writer.describe()
            phrasing = rules_hash() if writer["backend"] == "rules" else contrast_hash()
        else:
            writer, phrasing = self.llm.describe(), prompt_hash(self.prompts)
        return {"llm": writer, "prompt_hash": phrasing, "sampling": self.sampling.to_dict(),
                "judge": list(self.validation.judge_views) if self.judging else False,
                "judge_llm": self.llm.describe() if self.judging and self.writer is not None else None,
                "swap_check": ("detectors" if self.detectors is not None else "lexical") if self.validation.swap_check else False,
                "detectors": self.detectors.describe() if self.detectors is not None else None}

    def _msg(self, name: str, *, prefix: str = "", **fields) -> list[dict]:
        fields = {k: truncate_words(v, self.doc_words) if k in ("positive", "negative", "document") else v for k, v in fields.items()}
        msgs = [{"role": "user", "content": self.prompts[name].format(**fields).strip()}]
        return msgs + [{"role": "assistant", "content": prefix}] if prefix else msgs

    def _write_without_llm(self, recs: list[dict]) -> None:
        for r in recs:
            written = self.writer.write(r["ex"])
            if written is None:
                r["reason"] = "no_distinguishing_attribute" if self.writer.backend == "rules" else "no_distinguishing_phrase"
                continue
            r["instruction"], r["complement"], details = written
            r["constraint" if self.writer.backend == "rules" else "contrast"] = details
            r["written_instruction"] = True
            if self.writer.backend == "rules":
                continue  # fixed templates around a detected value: no copy or quotation to check; the detectors verify the swap
            for field_, against in (("instruction", ""), ("complement", "" if self.swap_check is not None else r["instruction"])):
                reason = check_instruction(r[field_], r["ex"], self.validation, against=against)
                if reason and not r["reason"]:
                    r["reason"] = f"{field_}_{reason}"

    def _attribute_hint(self, r: dict) -> str:
        """What the LLM is told the two documents differ in (one detected attribute), or nothing."""
        if self.detectors is None:
            return ""
        options = self.detectors.options(r["ex"])
        if not options:
            return ""
        c = C.choose(options, C.example_rng(self.sampling.seed, r["ex"].id))
        r["constraint"] = c.to_dict()
        t = C.BY_NAME.get(c.type)
        what = t.description if t else "a named entity or term"
        if c.form == "both":
            shown = f"document A shows {c.a}, document B shows {c.b}"
        elif c.form == "include":
            shown = f"document A shows {c.a}, document B does not"
        else:
            shown = f"document B shows {c.b}, document A does not"
        return f"The documents differ in {what}: {shown}. Write the constraint about this."

    def _write_with_llm(self, recs: list[dict], sampling: Sampling) -> None:
        for r in recs:
            r["hint"] = self._attribute_hint(r)
        need_first = [r for r in recs if not r["instruction"]]
        if need_first:
            outs = self.llm.generate([self._msg("first_instruction", query=r["ex"].query, positive=r["ex"].positive,
                                                negative=r["ex"].negative, attribute=r["hint"], prefix=REPLY_PREFIX)
                                      for r in need_first], sampling)
            for r, text in zip(need_first, outs):
                r["instruction"] = clean_instruction(f"{REPLY_PREFIX} {text}")
                reason = check_instruction(r["instruction"], r["ex"], self.validation)
                if reason:
                    r["reason"] = "instruction_" + reason
        live = [r for r in recs if not r["reason"]]
        if live:
            outs = self.llm.generate([self._msg("complement", query=r["ex"].query, instruction=r["instruction"],
                                                positive=r["ex"].positive, negative=r["ex"].negative, attribute=r["hint"],
                                                prefix=REPLY_PREFIX) for r in live], sampling)
            for r, text in zip(live, outs):
                r["complement"] = clean_instruction(f"{REPLY_PREFIX} {text}")
                # a complement may be the instruction with its polarity reversed: where the swap is
                # checked, that check (not the resemblance) decides
                against = "" if self.swap_check is not None else r["instruction"]
                reason = check_instruction(r["complement"], r["ex"], self.validation, against=against)
                if reason:
                    r["reason"] = "complement_" + reason

    def _swap_reason(self, r: dict) -> str | None:
        """The detectors' verdict where they found an attribute to check (always for `rules`), else the lexical check's."""
        if self.detectors is not None and (r.get("constraint") or (self.writer is not None and self.writer.backend == "rules")):
            return self.detectors.verify(r["instruction"], r["complement"], r["ex"])
        return self.swap_check.reason(r["instruction"], r["complement"], r["ex"].positive, r["ex"].negative)

    def process(self, chunk: list[Example], seed: int) -> list[dict]:
        """Records for a chunk of examples: instructions written, checked and judged."""
        sampling = replace(self.sampling, seed=seed)
        recs = [{"ex": ex, "instruction": ex.instruction, "reason": None, "written_instruction": not ex.instruction} for ex in chunk]
        if self.writer is not None:
            self._write_without_llm(recs)
        else:
            self._write_with_llm(recs, sampling)
        if self.swap_check is not None:
            for r in recs:
                if not r["reason"]:
                    r["reason"] = self._swap_reason(r)
        live = [r for r in recs if not r["reason"]]
        if live and self.judging:
            views = [v for v in ("original", "complement") if v in self.validation.judge_views]
            prompts = []
            for r in live:
                ex = r["ex"]
                for view in views:
                    instr = r["instruction"] if view == "original" else r["complement"]
                    for doc in (ex.positive, ex.negative):
                        prompts.append(self._msg("judge", query=ex.query, instruction=instr, document=doc))
            scores = iter(self.llm.yes_no(prompts))
            for r in live:
                r["judge"] = {view: {"positive": round(next(scores), 4), "negative": round(next(scores), 4)} for view in views}
                for view in views:
                    pos, neg = r["judge"][view]["positive"], r["judge"][view]["negative"]
                    if not r["reason"] and not (pos > neg if view == "original" else neg > pos):
                        r["reason"] = f"judge_{view}_view"
        prov = self.provenance()
        out = []
        for r in recs:
            ex = r["ex"]
            out.append({
                **ex.to_dict(), "instruction": r["instruction"], "complement": r.get("complement"),
                "kept": r["reason"] is None, "reason": r["reason"], "judge": r.get("judge"),
                "written_instruction": r["written_instruction"], "constraint": r.get("constraint"), "contrast": r.get("contrast"),
                "provenance": {**prov, "seed": seed},
            })
        return out


def synthesize(examples: list[Example], synthesizer: Synthesizer, path: Path, *, target_kept: int | None = None,
               on_record: Callable[[dict], None] | None = None, log: Callable[[str], None] | None = None) -> tuple[list[dict], SynthesisStats]:
    """Process examples in order, appending each finished one to `path`, until `target_kept` are
    kept (all examples if None). Already finished ids in `path` are skipped (resume).
    Returns (all records in `path` for these examples, stats)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = read_done(path)
    prov = synthesizer.provenance()
    for rec in done.values():
        old = rec.get("provenance", {})
        if old.get("prompt_hash") != prov["prompt_hash"] or old.get("llm", {}).get("model") != prov["llm"]["model"]:
            raise IfirError(
                f"{path} was written with another LLM or prompt ({old.get('llm', {}).get('model')}, {old.get('prompt_hash')}); "
                "pass a new --synthesis-file or delete it to start over."
            )
    ids = {ex.id for ex in examples}
    stats = SynthesisStats(resumed=sum(1 for i in done if i in ids))
    records = [done[ex.id] for ex in examples if ex.id in done]

    def count(rec, announce: bool):
        if rec["kept"]:
            stats.kept += 1
        else:
            stats.rejected += 1
            stats.rejected_by_reason[rec["reason"]] += 1
        if log and announce:
            log(f"kept {rec['id']}: {rec['complement']}" if rec["kept"] else f"rejected {rec['id']}: {rec['reason']}")

    for rec in records:
        count(rec, announce=False)  # resumed: summarized by the caller, not logged again
    todo = [ex for ex in examples if ex.id not in done]
    with open(path, "a", encoding="utf-8") as f:
        for start in range(0, len(todo), synthesizer.chunk_size):
            if target_kept is not None and stats.kept >= target_kept:
                break
            chunk = todo[start : start + synthesizer.chunk_size]
            seed = synthesizer.sampling.seed + int(hashlib.sha256(chunk[0].id.encode()).hexdigest()[:6], 16)
            for rec in synthesizer.process(chunk, seed):
                append_record(f, rec)
                records.append(rec)
                count(rec, announce=True)
                if on_record:
                    on_record(rec)
    return records, stats

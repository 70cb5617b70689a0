"""LLM-free polarity reversal: the instruction and its complement are written from what tells the
positive and the hard negative apart, so the label swap holds by construction.

For each example the salient key phrase of each document (TF-IDF against the corpus, unigrams and
bigrams, taken from the part of the document the encoder sees) that does not occur in the other
document is found: `a` for the positive, `b` for the negative. One phrasing (inclusion, exclusion,
both, or a TREC-narrative) is drawn per example under the seed and filled with (a, b) for the
instruction and with (b, a) for the complement: under the instruction the positive qualifies and
the negative is ruled out, under the complement the reverse.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import Counter
from collections.abc import Iterable

from dualview_trainer.examples import Example

STYLES = ("inclusion", "exclusion", "both", "narrative")
PHRASINGS: dict[str, tuple[str, ...]] = {
    "inclusion": (
        "Only documents that mention {a} are relevant.",
        "Relevant documents must discuss {a}.",
        "I am only interested in documents about {a}.",
        "The document has to mention {a}.",
    ),
    "exclusion": (
        "Documents that mention {b} are not relevant.",
        "Exclude documents that discuss {b}.",
        "Do not include anything about {b}.",
        "Leave out documents mentioning {b}.",
        "Ignore any document that mentions {b}.",
    ),
    "both": (
        "Relevant documents mention {a}, not {b}.",
        "Find documents about {a} rather than {b}.",
        "Only documents about {a} are relevant; exclude those that mention {b}.",
    ),
    "narrative": (
        "A relevant document discusses {a}. Documents that discuss {b} are not relevant.",
        "Relevant documents must describe {a}. A document about {b} is not relevant.",
        "To be relevant, a document must mention {a}; documents that mention {b} are not relevant.",
    ),
}
"""Each phrasing is filled with (a, b) for the instruction and with (b, a) for the complement."""

WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-]*[A-Za-z0-9]|[A-Za-z]")


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def _natural_case(word: str) -> str:
    """A capitalised ordinary word in lower case ("Combinatorial" at a title's start); acronyms
    and mixed-case names (FOXO3A, mRNA, McDonald) unchanged."""
    return word.lower() if word[:1].isupper() and word[1:].islower() else word


class ContrastSynthesizer:
    """Writes (instruction, complement) for examples without an LLM: deterministic under `seed`,
    hundreds of examples per second on 2 cores.

    `corpus` gives the document frequencies (the whole collection where there is one, else the
    examples' own documents); `window_words` is how much of each document a key phrase may come
    from (the part the encoder sees at its training `max_seq_length`)."""

    backend = "contrast"

    def __init__(self, corpus: Iterable[str], *, seed: int = 0, window_words: int = 80, min_chars: int = 4):
        self.stop = _stop_words()
        self.stem = _stemmer().stemWord
        self.seed = seed
        self.window_words = window_words
        self.min_chars = min_chars
        df: Counter = Counter()
        n = 0
        for text in corpus:
            n += 1
            df.update({self.stem(w.lower()) for w in WORD.findall(text)})
        self.n_docs = max(n, 1)
        self.df = df

    def describe(self) -> dict:
        return {"backend": self.backend, "model": "tfidf-key-phrases", "window_words": self.window_words, "n_docs": self.n_docs}

    def idf(self, stem: str) -> float:
        return math.log((1 + self.n_docs) / (1 + self.df.get(stem, 0))) + 1.0

    def _content(self, word: str) -> bool:
        w = word.lower()
        return len(w) >= self.min_chars and w not in self.stop and not w.isdigit()

    def key_phrase(self, doc: str, other: str, query: str) -> str | None:
        """The highest-scoring unigram or bigram of `doc`'s first `window_words` words none of
        whose content words occurs in `other` (stems compared) or in the query."""
        banned = {self.stem(w.lower()) for w in WORD.findall(other)} | {self.stem(w.lower()) for w in WORD.findall(query)}
        matches = list(WORD.finditer(doc))[: self.window_words]
        words = [m.group() for m in matches]
        tf = Counter(self.stem(w.lower()) for w in words)
        best, best_score = None, 0.0
        for i, w in enumerate(words):
            # a bigram only where the two words stand side by side in the text (no punctuation between)
            joined = i + 1 < len(words) and not doc[matches[i].end() : matches[i + 1].start()].strip()
            spans = [words[i : i + 1]] + ([words[i : i + 2]] if joined else [])
            for span in spans:
                if not all(self._content(x) for x in span):
                    break
                stems = [self.stem(x.lower()) for x in span]
                if any(s in banned for s in stems) or len(set(stems)) < len(stems):
                    break
                # rare-but-recurring beats once-only noise; a bigram must beat its parts by being specific
                score = sum(self.idf(s) * (1.0 + math.log(tf[s])) for s in stems) / math.sqrt(len(stems))
                if score > best_score:
                    best, best_score = " ".join(_natural_case(x) for x in span), score
        return best

    def write(self, ex: Example) -> tuple[str, str, dict] | None:
        """(instruction, complement, details) for one example, or None where the documents share
        every candidate phrase."""
        a = self.key_phrase(ex.positive, ex.negative, ex.query)
        b = self.key_phrase(ex.negative, ex.positive, ex.query)
        if not a or not b:
            return None
        rng = random.Random(int(hashlib.sha256(f"{self.seed}\0{ex.id}".encode()).hexdigest()[:12], 16))
        style = STYLES[rng.randrange(len(STYLES))]
        phrasing = rng.choice(PHRASINGS[style])
        return phrasing.format(a=a, b=b), phrasing.format(a=b, b=a), {"style": style, "positive_phrase": a, "negative_phrase": b}


# --- the swap check (independent of how an instruction was written) -----------------------

_CLAUSE = re.compile(r"[.;:!?]")
_CLAUSE_NEGATIVE = re.compile(r"\b(?:not relevant|irrelevant|are excluded|is excluded|should be excluded|does not qualify|do not qualify)\b", re.I)
_NEGATION = re.compile(
    r"\b(?:not|no|never|without|exclud\w*|ignor\w*|leave out|leaving out|rule[sd]? out|omit\w*|avoid\w*|except|"
    r"rather than|instead of|other than|don't|do not|does not|doesn't|nothing about)\b", re.I)
BOILERPLATE = frozenset("""find document documents relevant relevance mention mentions mentioning mentioned discuss discusses
discussing discussed describe describes describing described include includes including included anything any only
interested instruction must need needs want looking search retrieve return show provide information about regarding
related concerning topic topics article articles paper papers study studies text texts passage passages exclude excludes
excluding excluded ignore ignores ignoring leave rule rules ruled omit omitting avoid avoiding except rather instead""".split())


class SwapCheck:
    """A check that needs no LLM: reads an instruction as required and ruled-out terms (words
    after a negation cue, or in a clause saying "... are not relevant", are ruled out) and scores a
    document by required terms present minus ruled-out terms present (stems). A pair passes when
    the positive scores higher under the instruction and the negative under the complement."""

    def __init__(self):
        self.stop = _stop_words()
        self.stem = _stemmer().stemWord

    def terms(self, instruction: str) -> tuple[set[str], set[str]]:
        required, ruled_out = set(), set()
        for clause in _CLAUSE.split(instruction):
            negative_clause = bool(_CLAUSE_NEGATIVE.search(clause))
            cue = _NEGATION.search(clause)
            for m in WORD.finditer(clause):
                w = m.group().lower()
                if w in self.stop or w in BOILERPLATE or len(w) < 3:
                    continue
                negative = negative_clause or (cue is not None and m.start() > cue.start())
                (ruled_out if negative else required).add(self.stem(w))
        return required - ruled_out, ruled_out

    def score(self, instruction: str, document: str) -> int:
        required, ruled_out = self.terms(instruction)
        stems = {self.stem(w.lower()) for w in WORD.findall(document)}
        return len(required & stems) - len(ruled_out & stems)

    def reason(self, instruction: str, complement: str, positive: str, negative: str) -> str | None:
        """None when the swap holds, else which view failed."""
        if not self.score(instruction, positive) > self.score(instruction, negative):
            return "swap_check_original_view"
        if not self.score(complement, negative) > self.score(complement, positive):
            return "swap_check_complement_view"
        return None

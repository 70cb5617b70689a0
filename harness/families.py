"""Task families, each declared once: what a family is called, how it is scored, where the
definition comes from, and whether it tests instruction following (in the spirit of mteb's
`TaskMetadata`: checked when declared, nothing else to fill in elsewhere).

Everything that speaks of families reads them from here: `harness.tasks` (registered tasks point
to their family; `ifir-bench tasks` lists them; the `instruction-following` group), local
`ifir_task.json` folders (a family's scorer and main score are their defaults) and the leaderboard
(shown names, column order, which families count as general retrieval).

Adding a family is one `Family(...)` in `FAMILIES` below plus its `TaskSpec` entries in
`harness.tasks.REGISTRY` (and, when its data has a hub layout no reader knows yet, a reader in
`harness.data.layouts`; when it has a measure of its own, a `Scorer` in `harness.metrics.family`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.errors import IfirError
from harness.metrics.family import INSTRUCTIR, NEVIR, IFIR, Scorer


@dataclass(frozen=True)
class Family:
    """One benchmark family.

    `main` is the measure that ranks models on the family's tasks (a task may name another, as
    BRIGHT's -long tasks do: `main_note` says so in the listing); `also` the other figures reported;
    `scorer` the family's extra measures (its `main`, when it has one, is the family's main);
    `instruction_following` False for general retrieval (the leaderboard's x axis and "general" mean).
    """

    id: str
    name: str
    main: str
    also: str
    reference: str
    instruction_following: bool
    scorer: Scorer | None = None
    main_note: str = ""

    def __post_init__(self):
        if not re.fullmatch(r"[a-z][a-z0-9-]*", self.id):
            raise ValueError(f"Family id '{self.id}': lower-case letters, digits and '-' only.")
        for key in ("name", "main", "reference"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key):
                raise ValueError(f"Family '{self.id}': '{key}' must be a non-empty string.")
        if self.scorer is not None and not isinstance(self.scorer, Scorer):
            raise ValueError(f"Family '{self.id}': scorer must be a harness.metrics.family.Scorer.")
        if self.scorer is not None and self.scorer.main not in (None, self.main):
            raise ValueError(f"Family '{self.id}': its scorer ranks by '{self.scorer.main}', not its main '{self.main}'.")

    @property
    def scorer_name(self) -> str | None:
        return self.scorer.name if self.scorer else None


def _registry(*families: Family) -> dict[str, Family]:
    out: dict[str, Family] = {}
    for f in families:
        if f.id in out:
            raise ValueError(f"Family '{f.id}' is declared twice.")
        out[f.id] = f
    return out


FAMILIES: dict[str, Family] = _registry(  # in display order (the leaderboard's column groups)
    Family("followir", "FollowIR", "p-MRR", "MAP@1000, nDCG@5 (og / changed)",
           "Weller et al. 2024; mteb retrieval_metrics.py", instruction_following=True),
    Family("mfollowir", "mFollowIR", "p-MRR", "nDCG@20 (og / changed)",
           "Weller et al. 2025 (mFollowIR); mteb m_follow_ir.py", instruction_following=True),
    Family("instructir", "InstructIR", "Robustness@10", "nDCG@10",
           "Oh et al. 2024; kaistAI/InstructIR eval/robust_eval.py", instruction_following=True, scorer=INSTRUCTIR),
    Family("ifir", "IFIR", "nDCG@20", "nDCG@20 per instruction level",
           "Song et al. 2025; mteb IFIR task files", instruction_following=True, scorer=IFIR),
    Family("bright", "BRIGHT", "nDCG@10", "nDCG@10, R@100; excluded ids honoured",
           "Su et al. 2024; mteb bright_v1_1_retrieval.py", instruction_following=True, main_note="-long: R@1"),
    Family("nevir", "NevIR", "paired-accuracy", "R@1, nDCG@10",
           "Weller et al. 2023; mteb paired_accuracy", instruction_following=True, scorer=NEVIR),
    Family("beir", "BEIR", "nDCG@10", "R@100", "Thakur et al. 2021; mteb", instruction_following=False),
    Family("local", "local", "nDCG@10", "R@100 (FollowIR-format folders: p-MRR, MAP@1000, nDCG@5)",
           "a folder of your own (BEIR or FollowIR format)", instruction_following=False),
)
INSTRUCTION_FOLLOWING = tuple(f.id for f in FAMILIES.values() if f.instruction_following)
GENERAL = tuple(f.id for f in FAMILIES.values() if not f.instruction_following)


def family(family_id: str, where: str = "") -> Family:
    """The family called `family_id`; an error naming `where` (a file, a task) when there is none."""
    if family_id not in FAMILIES:
        raise IfirError(f"{where + ': ' if where else ''}unknown family '{family_id}' (one of {', '.join(FAMILIES)}).")
    return FAMILIES[family_id]

"""Measures: standard ones through ir_measures; p-MRR and the family measures (`family.py`:
Robustness@10, paired accuracy, IFIR levels) our own; `scoring.score` scores a run on a task. No I/O here."""

from harness.metrics.pmrr import p_mrr, rank_change_score
from harness.metrics.standard import evaluate_measures, group_means, main_per_query, parse_measures

__all__ = ["evaluate_measures", "group_means", "main_per_query", "p_mrr", "parse_measures", "rank_change_score"]

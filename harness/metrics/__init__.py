"""Measures: standard ones through ir_measures, p-MRR our own. No I/O here."""

from harness.metrics.pmrr import p_mrr, rank_change_score
from harness.metrics.standard import evaluate_measures, parse_measures

__all__ = ["evaluate_measures", "p_mrr", "parse_measures", "rank_change_score"]

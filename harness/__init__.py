"""ifir-bench harness: tasks, retrievers, measures and result files for instruction-following IR."""

__version__ = "0.1.0"

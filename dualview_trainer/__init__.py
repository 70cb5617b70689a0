"""Dual-view training (Mehta et al. 2026, arXiv 2604.18845): complementary instructions from an LLM, an encoder trained on both views."""

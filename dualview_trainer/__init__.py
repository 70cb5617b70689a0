"""Dual-view training (Zeng et al. 2026): complementary instructions from an LLM, an encoder trained on both views."""

"""Evaluation of the warehouse against public benchmark data (docs/matching-evaluation.md)."""

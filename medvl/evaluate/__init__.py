"""Evaluation: retrieval, zero-shot, LLM judge and reports."""

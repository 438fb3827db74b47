"""LLM access: structured calls through instructor (client), an answer cache, the local server."""

from medvl.llm.client import LLMResult, LLMSettings, LLMUnavailable, StructuredLLM

__all__ = ["LLMResult", "LLMSettings", "LLMUnavailable", "StructuredLLM"]

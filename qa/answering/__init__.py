"""Answerers: extractive (no model beyond the embeddings) and LLM (held to verified quotes)."""

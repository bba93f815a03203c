"""LLM-facing work: classification, extraction, repair and vision agents (through the Dapr Conversation API)."""

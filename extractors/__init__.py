"""Deterministic work on documents: intake, pages, OCR, document-type schemas and validation rules."""

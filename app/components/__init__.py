"""Render helpers that take core dataclasses; no SQL here."""

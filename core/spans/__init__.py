"""Spans in text: character ranges with a type, found by generic detectors or marked by people."""

"""Models: safe serialization, built-in trainers, prediction and span extraction."""

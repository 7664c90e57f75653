"""Releases: moving a model alias (promotion, rollback) with everything that follows from it."""

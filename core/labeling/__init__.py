"""Labeling: tasks, a leased queue, append-only annotations, agreement, review, frozen label sets."""

"""ML modeling: tracked runs, built-in trainers, evaluation per slice, search and comparison."""

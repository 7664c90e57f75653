"""The model registry: model versions as artifacts, aliases such as production, promotion history."""

"""Projects are data, not code: a YAML file declares the schema, labels, slices and split."""

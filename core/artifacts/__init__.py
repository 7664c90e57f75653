"""The artifact registry: immutable, versioned artifacts and the typed edges between them."""

"""Data management: reading and validating files, datasets as versioned artifacts, reproduction."""

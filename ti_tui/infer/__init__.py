"""Making images with an embedding: one prompt rendered to a PNG that records how it was made."""

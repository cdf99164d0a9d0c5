"""ti-tui: train Stable Diffusion textual-inversion embeddings from a terminal wizard."""

__version__ = "0.1.0"

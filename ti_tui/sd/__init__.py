"""Stable Diffusion models: where they come from, the built-in tiny model, tokenizers."""

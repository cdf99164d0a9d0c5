"""The Textual wizard: presentation only; every decision is made by the core it calls."""

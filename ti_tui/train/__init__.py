"""The training engine and the run protocol; never imports Textual."""

"""The images: finding them, checking them, preparing them, and their captions."""

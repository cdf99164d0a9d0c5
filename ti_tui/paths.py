"""Where ti-tui keeps things outside a project."""

import os
from pathlib import Path

CACHE_DIR_ENVIRONMENT_VARIABLE = "TI_TUI_CACHE_DIR"


def cache_dir() -> Path:
    """The user cache folder (built-in models live here); `TI_TUI_CACHE_DIR` overrides it."""
    override = os.environ.get(CACHE_DIR_ENVIRONMENT_VARIABLE)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("ti-tui", appauthor=False))

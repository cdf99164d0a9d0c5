"""Where ti-tui keeps things outside a project."""

import os
from pathlib import Path

from ti_tui.errors import UserError

CACHE_DIR_ENVIRONMENT_VARIABLE = "TI_TUI_CACHE_DIR"


def cache_dir() -> Path:
    """The user cache folder (built-in models live here); `TI_TUI_CACHE_DIR` overrides it."""
    override = os.environ.get(CACHE_DIR_ENVIRONMENT_VARIABLE)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("ti-tui", appauthor=False))


def user_path(text: str, base_dir: Path) -> Path:
    """A path the user wrote (`~` allowed), relative ones read from `base_dir`; a clear error when unusable."""
    if "\0" in text:
        raise UserError(f"the path {text!r} contains a NUL character; remove it")
    try:
        expanded = Path(text).expanduser()
    except RuntimeError:
        user = text[1:].split("/", 1)[0]
        raise UserError(f"the path {text!r} starts with ~{user}, but there is no user {user!r}; write ~/ for your home") from None
    return (base_dir / expanded).resolve()

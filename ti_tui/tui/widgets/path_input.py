"""A path field: completes names from the disk as they are typed (right arrow takes the completion)."""

import os
from pathlib import Path

from textual.suggester import Suggester

from ti_tui.tui.widgets.typing_input import TypingInput


class PathSuggester(Suggester):
    """The first name on disk that the typed path starts; folders end in a slash so typing goes on inside."""

    def __init__(self):
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        try:
            typed = Path(value).expanduser()
            folder, start = (typed, "") if value.endswith(os.sep) else (typed.parent, typed.name)
            names = sorted(child for child in os.listdir(folder) if child.startswith(start) and not child.startswith("."))
            suffix = os.sep if names and (folder / names[0]).is_dir() else ""
        except (OSError, RuntimeError, ValueError):  # no such user for ~name, no permission, a NUL typed
            return None
        if not names or names[0] == start:
            return None
        return value + names[0][len(start) :] + suffix


class PathInput(TypingInput):
    def __init__(self, value: str = "", **kwargs):
        # Typing goes on after what is there (a folder to go into), rather than replacing it.
        super().__init__(value, suggester=PathSuggester(), **kwargs)


def browse_start(text: str) -> Path:
    """The folder a file browser opens on for what is typed: it, its parent, or the current folder."""
    try:
        typed = Path(text or ".").expanduser()
        return typed if typed.is_dir() else typed.parent if typed.parent.is_dir() else Path.cwd()
    except (OSError, RuntimeError, ValueError):
        return Path.cwd()

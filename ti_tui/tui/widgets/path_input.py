"""A path field: completes names from the disk as they are typed (right arrow takes the completion)."""

import os
from pathlib import Path

from textual.suggester import Suggester
from textual.widgets import Input


class PathSuggester(Suggester):
    """The first name on disk that the typed path starts; folders end in a slash so typing goes on inside."""

    def __init__(self):
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        typed = Path(value).expanduser()
        folder, start = (typed, "") if value.endswith(os.sep) else (typed.parent, typed.name)
        try:
            names = sorted(child for child in os.listdir(folder) if child.startswith(start) and not child.startswith("."))
        except OSError:
            return None
        if not names or names[0] == start:
            return None
        suffix = os.sep if (folder / names[0]).is_dir() else ""
        return value + names[0][len(start) :] + suffix


class PathInput(Input):
    def __init__(self, value: str = "", **kwargs):
        # Typing goes on after what is there (a folder to go into), rather than replacing it.
        super().__init__(value, suggester=PathSuggester(), select_on_focus=False, **kwargs)

"""What the wizard remembers between sessions, outside any project: the projects opened lately, the
step each was left on, and the guidance a user has folded away.

Kept in the user data folder (`TI_TUI_DATA_DIR` moves it), never in project.toml, which holds only
what the user decided about the project.
"""

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ti_tui.fsutil import atomic_write_text

DATA_DIR_VARIABLE = "TI_TUI_DATA_DIR"
KEPT = 20  # projects in the list


def data_dir() -> Path:
    override = os.environ.get(DATA_DIR_VARIABLE)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("ti-tui", appauthor=False))


@dataclass(frozen=True)
class RecentProject:
    path: Path
    opened: float  # time.time() when last opened
    step: str  # the step last open in the wizard

    @property
    def exists(self) -> bool:
        return (self.path / "project.toml").is_file()


class Memory:
    """The remembered things, read when made and written at each change; a damaged file is started afresh."""

    def __init__(self, folder: Path | None = None):
        self.path = (folder or data_dir()) / "wizard.json"
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        data = data if isinstance(data, dict) else {}
        projects = data.get("projects") if isinstance(data.get("projects"), list) else []
        self._projects = [entry for entry in projects if isinstance(entry, dict) and isinstance(entry.get("path"), str)]
        self._folded = set(data.get("folded_guidance", [])) if isinstance(data.get("folded_guidance"), list) else set()
        self._values = data.get("values", {}) if isinstance(data.get("values"), dict) else {}

    def recent(self) -> list[RecentProject]:
        """Newest first."""
        found = []
        for entry in self._projects:
            try:
                found.append(RecentProject(Path(entry["path"]), float(entry["opened"]), str(entry.get("step", "images"))))
            except (KeyError, TypeError, ValueError):
                continue
        return sorted(found, key=lambda project: project.opened, reverse=True)

    def remember(self, project_root: Path, step: str | None = None) -> None:
        """Put the project first in the list; `step` is the one now open (kept as it was when None)."""
        key = _key(project_root)
        previous = next((entry for entry in self._projects if entry.get("path") == key), {})
        seen = sorted(set(self.seen_steps(project_root)) | ({step} if step else set()))
        entry = {"path": key, "opened": time.time(), "step": step or previous.get("step", "images"), "seen": seen}
        self._projects = [entry, *(other for other in self._projects if other.get("path") != key)][:KEPT]
        self._save()

    def forget(self, project_root: Path) -> None:
        key = _key(project_root)
        self._projects = [entry for entry in self._projects if entry.get("path") != key]
        self._save()

    def seen_steps(self, project_root: Path) -> list[str]:
        """The steps of the project the user has opened in the wizard."""
        key = _key(project_root)
        seen = next((entry.get("seen") for entry in self._projects if entry.get("path") == key), None)
        return [step for step in seen if isinstance(step, str)] if isinstance(seen, list) else []

    def last_step(self, project_root: Path) -> str | None:
        key = _key(project_root)
        return next((entry.get("step") for entry in self._projects if entry.get("path") == key), None)

    def guidance_folded(self, step: str) -> bool:
        return step in self._folded

    def fold_guidance(self, step: str, folded: bool) -> None:
        (self._folded.add if folded else self._folded.discard)(step)
        self._save()

    def value(self, name: str) -> str | None:
        """A choice the user made last time, such as the captioning model."""
        value = self._values.get(name)
        return value if isinstance(value, str) else None

    def remember_value(self, name: str, value: str) -> None:
        self._values[name] = value
        self._save()

    def forget_value(self, name: str) -> None:
        if self._values.pop(name, None) is not None:
            self._save()

    def _save(self) -> None:
        data = {"projects": self._projects, "folded_guidance": sorted(self._folded), "values": self._values}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps(data, indent=1))
        except OSError:
            pass  # forgetting where the user was costs a click; failing the wizard over it would cost more


def _key(project_root: Path) -> str:
    """A project's place in the list: its full path, links followed (a link that loops is kept as it is)."""
    return os.path.realpath(project_root)


def copy_of_sample(sample: Path) -> Path:
    """A copy of the sample project in the user data folder, to try things on without touching the original."""
    import shutil

    target = data_dir() / "sample_project"
    if not (target / "project.toml").is_file():
        shutil.copytree(
            sample, target, ignore=shutil.ignore_patterns("runs", "prepared", "exports", "grids", "generated"), dirs_exist_ok=True
        )
    return target

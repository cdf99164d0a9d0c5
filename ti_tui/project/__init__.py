"""The project: a folder with `project.toml` and the files made from it."""

from ti_tui.project.project import PROJECT_FILE_NAME, Project, create_project
from ti_tui.project.store import ProjectChangedOnDiskError, ProjectFileError, ProjectStore, SettingsUpdate, value_problem
from ti_tui.settings import BUILTIN_TINY, CURRENT_SCHEMA, ProjectSettings

__all__ = [
    "BUILTIN_TINY",
    "CURRENT_SCHEMA",
    "PROJECT_FILE_NAME",
    "Project",
    "ProjectChangedOnDiskError",
    "ProjectFileError",
    "ProjectSettings",
    "ProjectStore",
    "SettingsUpdate",
    "create_project",
    "value_problem",
]

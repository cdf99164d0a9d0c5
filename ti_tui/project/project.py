"""A project folder: `project.toml` plus the images, runs and exports made from it."""

import os
import re
from pathlib import Path

from pydantic import ValidationError

from ti_tui.errors import UserError
from ti_tui.findings import Fix
from ti_tui.fsutil import atomic_write_text
from ti_tui.kinds import DEFAULT_KIND, PROJECT_KINDS
from ti_tui.paths import resolved, user_path
from ti_tui.project.store import ProjectStore, SettingsUpdate, render_project_toml
from ti_tui.sd.source import classify_model_source
from ti_tui.settings import ProjectSettings

PROJECT_FILE_NAME = "project.toml"


class Project:
    def __init__(self, root: Path):
        self.root = resolved(Path(root))
        self.store = ProjectStore(self.root / PROJECT_FILE_NAME)

    @classmethod
    def open(cls, path: Path) -> "Project":
        """Open a project from its folder or from its `project.toml`."""
        path = user_path(os.fspath(path), Path.cwd())
        if path.name == PROJECT_FILE_NAME and path.exists():
            return cls(path.parent)
        if path.is_dir():
            if not (path / PROJECT_FILE_NAME).exists():
                raise UserError(
                    f"{path} has no {PROJECT_FILE_NAME}, so it is not a ti-tui project; make it one first",
                    Fix("create-project", os.fspath(path)),
                )
            return cls(path)
        if path.exists():
            raise UserError(f"{path} is neither a project folder nor a {PROJECT_FILE_NAME}")
        raise UserError(f"{path} does not exist; create a project there first", Fix("create-project", os.fspath(path)))

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def settings(self) -> ProjectSettings:
        """A copy of the settings: change it and `save` it, or change values with `update`."""
        return self.store.settings

    def save(self, settings: ProjectSettings) -> list[str]:
        """Write what differs in `settings` to project.toml; returns the changed keys."""
        return self.store.save(settings)

    def update(self, changes: dict) -> SettingsUpdate:
        """Change settings by dotted key, such as {"training.steps": 500}; all or none."""
        return self.store.update(changes)

    def resolve(self, text: str) -> Path:
        """A path from the settings: relative ones start at the project folder."""
        return user_path(text, self.root)

    @property
    def images_dir(self) -> Path:
        try:
            return self.resolve(self.settings.dataset.images)
        except UserError as error:
            raise UserError(f"dataset.images: {error}", Fix("edit-setting", "dataset.images")) from None

    @property
    def prepared_dir(self) -> Path:
        return self.root / "prepared"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def exports_dir(self) -> Path:
        return self.resolve(self.settings.export.folder)


def create_project(
    folder: Path | str,
    *,
    model: str | None = None,
    images: Path | None = None,
    token: str | None = None,
    kind: str = DEFAULT_KIND,
    init_text: str | None = None,
) -> Project:
    """Make `folder` a project: a commented `project.toml` and, unless `images` points elsewhere, `images/`.
    `kind` (one of PROJECT_KINDS) sets the dataset kind, the template and, unless `init_text` is given, the
    words the vectors start from."""
    if not os.fspath(folder).strip():
        raise UserError("name the folder for the new project, such as myface")
    folder = user_path(os.fspath(folder), Path.cwd())
    project_file = folder / PROJECT_FILE_NAME
    if project_file.is_dir():
        raise UserError(f"{project_file} is a folder; rename it, since the project's settings go in a file of that name")
    if project_file.exists():
        raise UserError(f"{folder} is already a project", Fix("open-project", os.fspath(folder)))
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} is a file; name a new or existing folder for the project")

    if kind not in PROJECT_KINDS:
        raise UserError(f"the kind {kind!r} is not one of {', '.join(PROJECT_KINDS)}: say what the images show")
    settings = ProjectSettings()
    chosen = PROJECT_KINDS[kind]
    settings.dataset.kind, settings.training.template = chosen.dataset_kind, chosen.template
    settings.token.init_text = chosen.init_text if init_text is None else init_text.strip()
    trigger = token if token is not None else _trigger_from_folder_name(folder.name)
    try:
        settings.token.trigger = trigger
    except ValidationError as error:
        raise UserError(f"the trigger {trigger!r} {error.errors()[0]['ctx']['error']}") from None
    if model is not None:
        settings.model.base = _model_setting(model, folder)
    if images is not None:
        images = user_path(os.fspath(images), Path.cwd())
        if not images.is_dir():
            what = "is a file, not a folder" if images.exists() else "does not exist"
            raise UserError(f"the images folder {images} {what}; name the folder that holds your photos")
        settings.dataset.images = _relative_if_inside(images, folder)

    try:
        folder.mkdir(parents=True, exist_ok=True)
        if images is None:
            (folder / "images").mkdir(exist_ok=True)
        atomic_write_text(project_file, render_project_toml(settings))
    except OSError as error:
        raise UserError(f"cannot create the project in {folder}: {error.strerror} ({error.filename})") from None
    return Project(folder)


def _trigger_from_folder_name(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "", name.lower()).strip("_")


def _model_setting(model: str, project_folder: Path) -> str:
    """Local paths are stored so that they still work when read relative to the project folder."""
    if not model.strip():
        raise UserError("no model was named; give a model file, a diffusers folder, a Hugging Face id or builtin:tiny")
    source = classify_model_source(model, Path.cwd())
    if source.kind == "missing":
        raise UserError(
            f"the model {model}: no such file or folder; give an SD 1.x/2.x .safetensors or .ckpt file, "
            "a diffusers folder, a Hugging Face id such as stable-diffusion-v1-5/stable-diffusion-v1-5, "
            "or builtin:tiny"
        )
    if source.path is not None:
        return _relative_if_inside(source.path, project_folder)
    return model


def _relative_if_inside(path: Path, folder: Path) -> str:
    try:
        return os.fspath(path.relative_to(folder))
    except ValueError:
        return os.fspath(path)

"""Export: the chosen checkpoint written where a UI reads embeddings, named so that the file name is the word.

A folder given to export into is recognised by the files each popular UI's installation has, and
the file goes where that UI reads embeddings (as its own code reads them; see `recognise_target`):

- AUTOMATIC1111 web UI (`webui.py` and `modules/`): `embeddings/`, read again before each generation.
- Forge (the same, with `modules_forge/`): `embeddings/`, read when a model is loaded.
- SD.Next (the same, with `installer.py`): `models/embeddings/` unless its settings name another
  folder, read when a model is loaded or its networks list is refreshed.
- ComfyUI (`main.py`, `folder_paths.py` and `comfy/`): `models/embeddings/`, searched whenever a
  prompt names an embedding.
- InvokeAI (`invokeai.yaml`): version 3 scans `models/<base model>/embedding/` when it starts;
  from version 4 on it takes in no file by itself, and manages its models folder alone, so the file
  goes into `embeddings/` beside it, to be installed from its Model Manager.

Any other folder is a plain one. The default is the project's `[export] folder`.
"""

import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from ti_tui.embedding.files import FILE_SUFFIXES, export_embedding, holds_embedding, read_embedding
from ti_tui.errors import UserError
from ti_tui.paths import resolved, user_path
from ti_tui.project import Project
from ti_tui.runs import RunDirectory, run_status
from ti_tui.runs.directory import Checkpoint
from ti_tui.runs.history import OVER_TRAINED_TIMES
from ti_tui.runs.suggestion import suggestion_for
from ti_tui.sd.family import label_for_width, read_safetensors_header
from ti_tui.torch_files import run_with_torch
from ti_tui.usecases.checkpoints import chosen_checkpoint

TargetKind = Literal["webui", "comfyui", "invokeai", "folder"]
# InvokeAI 3 keeps each base model's embeddings in a folder of its own, named by these.
INVOKEAI_BASE_FOLDERS = {"SD 1.x": "sd-1", "SD 2.x": "sd-2", "SDXL": "sdxl"}
# How far above the folder given an installation is looked for: InvokeAI 3's models/sd-1/embedding.
INSTALLATION_DEPTH = 3


@dataclass(frozen=True)
class ExportTarget:
    """Where an export goes, and why there."""

    kind: TargetKind
    folder: Path  # the folder given
    embeddings_dir: Path  # where the files land
    description: str  # one sentence: what the folder is, where the file goes, what is left to do
    ui: str = ""  # the installation by name, such as "Forge" or "InvokeAI 3"; "" for a plain folder


@dataclass(frozen=True)
class ExportPlan:
    """What an export will write, and where, before anything is written: the wizard shows it first."""

    run: RunDirectory
    checkpoint: Checkpoint
    target: ExportTarget
    name: str  # the file name without its extension: the word in prompts
    formats: tuple[str, ...]
    paths: tuple[Path, ...]  # the files it will write
    existing: tuple[Path, ...]  # those of them already there (a dangling link too), which are overwritten only when asked
    warnings: tuple[str, ...]


@dataclass
class ExportResult:
    paths: list[Path]  # the files of the export, all in place now
    target: ExportTarget
    run: RunDirectory
    checkpoint: Checkpoint
    warnings: list[str]
    name: str
    kept: list[Path] = field(default_factory=list)  # those of `paths` that already held this checkpoint, left as they were


class ExportExistsError(UserError):
    """Files of the export's name are already there; each front end says its own way to overwrite them."""

    def __init__(self, existing: list[Path]):
        self.existing = existing
        names = " and ".join(str(path) for path in existing)
        verb = "exists" if len(existing) == 1 else "exist"
        super().__init__(
            f"{names} already {verb}; nothing was written. Overwrite on purpose, or set export.name to export under another name"
        )


def recognise_target(path: Path, family_label: str) -> ExportTarget:
    """What `path` is: a UI's installation (or its embeddings folder), or a plain folder; nothing is written.

    `family_label` (such as "SD 1.x") picks InvokeAI 3's folder for the embedding's base model.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{path} is a file; name the folder the embedding should go into, such as your UI's installation folder")
    # The portable ComfyUI for Windows keeps the installation one folder down.
    for root in (path, path / "ComfyUI"):
        target = _installation_at(root, path, family_label)
        if target is not None:
            return target
    for root in list(path.parents)[:INSTALLATION_DEPTH]:
        target = _installation_at(root, path, family_label)
        if target is not None and target.embeddings_dir == path:
            return target
    made = "a plain folder" if path.is_dir() else "a new folder"
    description = f"{made}, not a UI's installation: the file goes into it, to be copied to where your UI reads embeddings"
    return ExportTarget("folder", path, path, description)


def _installation_at(root: Path, given: Path, family_label: str) -> ExportTarget | None:
    if (root / "invokeai.yaml").is_file():
        return _invokeai(root, given, family_label)
    if (root / "main.py").is_file() and (root / "folder_paths.py").is_file() and (root / "comfy").is_dir():
        folder = root / "models" / "embeddings"
        where = (
            "the embeddings folder of a ComfyUI installation: the file goes into it"
            if given == folder
            else (f"a ComfyUI installation: the file goes into {_inside(root, folder)}")
        )
        description = f"{where}, which ComfyUI searches whenever a prompt names an embedding, so no restart is needed"
        return ExportTarget("comfyui", given, folder, description, "ComfyUI")
    if (root / "webui.py").is_file() and (root / "modules").is_dir():
        if (root / "modules_forge").is_dir():
            folder = root / "embeddings"
            description = (
                f"a Forge installation: the file goes into {_inside(root, folder)}, which Forge reads when it loads a model, "
                "so load the model again (or restart Forge) before using the word"
            )
            return ExportTarget("webui", given, folder, description, "Forge")
        if (root / "installer.py").is_file():
            folder = _sdnext_embeddings_dir(root)
            description = (
                f"an SD.Next installation: the file goes into {_inside(root, folder)}, which SD.Next reads when it loads a "
                "model, so refresh its networks list (or load the model again) before using the word"
            )
            return ExportTarget("webui", given, folder, description, "SD.Next")
        folder = root / "embeddings"
        description = (
            f"an AUTOMATIC1111 web UI installation: the file goes into {_inside(root, folder)}, which the web UI reads again "
            "before each generation, so the word works at once"
        )
        return ExportTarget("webui", given, folder, description, "web UI")
    return None


def _sdnext_embeddings_dir(root: Path) -> Path:
    """SD.Next's folder setting, from its config.json, else the models folder's embeddings/."""
    try:
        settings = json.loads((root / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        settings = {}
    settings = settings if isinstance(settings, dict) else {}
    chosen = settings.get("embeddings_dir")
    if isinstance(chosen, str) and chosen.strip():
        return root / chosen
    models = settings.get("models_dir")
    return root / (models if isinstance(models, str) and models.strip() else "models") / "embeddings"


def _invokeai(root: Path, given: Path, family_label: str) -> ExportTarget:
    try:
        settings = (root / "invokeai.yaml").read_text(encoding="utf-8", errors="replace")
    except OSError:
        settings = ""
    if re.search(r"^InvokeAI:", settings, re.MULTILINE):  # version 3 nests every setting under this key
        base = INVOKEAI_BASE_FOLDERS.get(family_label)
        if base is None:
            raise UserError(f"InvokeAI 3 keeps embeddings by base model, and has no folder for {family_label} embeddings")
        folder = root / (_yaml_setting(settings, "models_dir") or "models") / base / "embedding"
        description = (
            f"an InvokeAI 3 installation: the file goes into {_inside(root, folder)}, which InvokeAI scans when it starts, "
            "so restart it (or press Sync Models in its Model Manager) before using the word"
        )
        return ExportTarget("invokeai", given, folder, description, "InvokeAI 3")
    folder = root / "embeddings"
    description = (
        f"an InvokeAI installation (version 4 or later), which takes in no file by itself: the file goes into "
        f"{_inside(root, folder)}, outside the models folder InvokeAI manages, so install it from there in its "
        "Model Manager (Add Models, Scan Folder) before using the word"
    )
    return ExportTarget("invokeai", given, folder, description, "InvokeAI")


def _yaml_setting(text: str, key: str) -> str:
    """A plain `key: value` from a YAML file, at any depth; "" when it is not there."""
    match = re.search(rf"^\s*{key}:[ \t]*(\S[^#\n]*?)\s*(#.*)?$", text, re.MULTILINE)
    return match.group(1).strip("'\"") if match else ""


def _inside(root: Path, folder: Path) -> str:
    """The folder as seen from the installation, when it is inside it."""
    try:
        return os.fspath(folder.relative_to(root))
    except ValueError:
        return os.fspath(folder)


def plan_export(
    project: Project,
    step: int | None = None,
    run_name: str | None = None,
    formats: list[str] | None = None,
    to: Path | str | None = None,
) -> ExportPlan:
    """Which checkpoint, into which folder, as which files, and what to know first; nothing is written.

    The checkpoint is the step given, else the one chosen in Compare, else the newest run's last;
    the folder `to` (recognised as a UI's installation), else the project's export folder; the
    formats those given, else the project's.
    """
    settings = project.settings.export
    run, checkpoint = chosen_checkpoint(project, step, run_name)
    layouts = _formats(formats or settings.formats)
    folder = user_path(os.fspath(to), Path.cwd()) if to is not None else project.exports_dir
    target = recognise_target(folder, _family_label(checkpoint))
    _check_folder(target)
    name = settings.name or run.facts().settings.token.trigger
    paths = tuple(target.embeddings_dir / f"{name}{FILE_SUFFIXES[layout]}" for layout in layouts)
    for path in paths:
        if path.is_dir():
            raise UserError(
                f"{path} is a folder, where the export writes a file: move it away, or set export.name to export under another name"
            )
    warnings = []
    status = run_status(run)  # first: it says what is wrong with a run folder that cannot be read
    suggestion = suggestion_for(run)
    if suggestion is not None and suggestion.flags(checkpoint.step):
        warnings.append(
            f"Step {checkpoint.step:,} of run {run.id} is likely over-trained: its vectors are over {OVER_TRAINED_TIMES:g}x "
            f"a typical token. Step {suggestion.step:,} is suggested; choose it in Compare, or export with --step {suggestion.step}."
        )
    if status.active:
        latest = checkpoint == run.checkpoints()[-1]
        which = f"step {checkpoint.step} is its latest checkpoint so far" if latest else f"this exports step {checkpoint.step}"
        warnings.append(
            f"Run {run.id} is still training ({status.describe()}): {which}, and a later one may be "
            "better; export again when it has finished."
        )
    if len(paths) > 1 and target.kind != "folder":
        warnings.append(
            f"{len(paths)} files named {name} go into one folder of {target.ui}, which knows one embedding per name: keep one format there."
        )
    existing = tuple(path for path in paths if os.path.lexists(path))
    return ExportPlan(run, checkpoint, target, name, layouts, paths, existing, tuple(warnings))


def _check_folder(target: ExportTarget) -> None:
    """The folder the files go into is one, or can be made: not a file, nor a link to nowhere."""
    folder = target.embeddings_dir
    if folder.is_symlink() and not folder.exists():
        resolved(folder)  # a symbolic-link loop is named as one
        raise UserError(
            f"{folder} is a symbolic link to {os.readlink(folder)}, which does not exist: make that folder, or export into another one"
        )
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} is a file, where {target.ui or 'the export'} needs a folder for embeddings")


def export_checkpoint(
    project: Project,
    step: int | None = None,
    run_name: str | None = None,
    formats: list[str] | None = None,
    to: Path | str | None = None,
    force: bool = False,
) -> ExportResult:
    """Write the chosen checkpoint where `to`'s UI reads embeddings, as `plan_export` says.

    Files already there are overwritten only with `force`; without it nothing is written. A file there
    that already holds this checkpoint in its format is kept, so an export cut short completes when run again.
    """
    plan = plan_export(project, step, run_name, formats, to)
    # The tensors are read and written where torch is (see `run_with_torch`).
    files = run_with_torch(
        write_export_files,
        os.fspath(plan.checkpoint.embedding),
        f"the checkpoint at step {plan.checkpoint.step} of run {plan.run.id}",
        plan.name,
        os.fspath(plan.target.embeddings_dir),
        list(plan.formats),
        [os.fspath(path) for path in plan.existing],
        force,
    )
    if files["replaced"] and not force:
        raise ExportExistsError([Path(path) for path in files["replaced"]])
    kept = [Path(path) for path in files["kept"]]
    return ExportResult(list(plan.paths), plan.target, plan.run, plan.checkpoint, list(plan.warnings), plan.name, kept)


def write_export_files(
    checkpoint: str, described: str, name: str, folder: str, formats: list[str], existing: list[str], force: bool
) -> dict:
    """The export's work on tensors: the checkpoint file (`described` in words) read, written into `folder` as
    `name` in each format. Of the `existing` files, those that hold it already are kept as they are; the
    others are replaced only with `force`, and without it nothing is written. Returns those kept and those
    to replace."""
    embedding = read_embedding(Path(checkpoint)).embedding
    if not embedding.is_finite:
        raise UserError(f"{described} holds NaN or infinite values, so no UI can use it (training diverged); export an earlier step")
    # Every layout then names the word as the file does: the .pt's name, diffusers' token.
    named = replace(embedding, trigger=name)
    paths = [Path(folder) / f"{name}{FILE_SUFFIXES[layout]}" for layout in formats]
    there = {Path(path) for path in existing}
    kept = [path for path, layout in zip(paths, formats, strict=True) if path in there and holds_embedding(path, named, layout)]
    replaced = [path for path in paths if path in there and path not in kept]
    if force or not replaced:
        export_embedding(named, Path(folder), formats, name=name, overwrite=force)
    return {"kept": [os.fspath(path) for path in kept], "replaced": [os.fspath(path) for path in replaced]}


def prompt_usage(name: str, target: ExportTarget | None = None) -> list[tuple[str, str]]:
    """(tool, what to type) for the word `name`: in every tool, or in the one `target` is an installation of."""
    usage = [
        ("webui", "web UI, Forge, SD.Next", name),
        ("comfyui", "ComfyUI", f"embedding:{name}"),
        ("invokeai", "InvokeAI", f"<{name}>"),
        ("folder", "diffusers", f'pipe.load_textual_inversion("{name}.safetensors", token="{name}")'),
    ]
    if target is None or target.kind == "folder":
        return [(tool, text) for _, tool, text in usage]
    return [(target.ui, text) for kind, _, text in usage if kind == target.kind]


def _formats(formats: list[str]) -> tuple[str, ...]:
    """The formats asked for, each once, in the order given."""
    chosen = []
    for text in formats:
        layout = text.strip().lower()
        if layout not in FILE_SUFFIXES:
            raise UserError(f"{text!r} is not an export format; choose from {', '.join(FILE_SUFFIXES)}")
        if layout not in chosen:
            chosen.append(layout)
    return tuple(chosen)


def _family_label(checkpoint: Checkpoint) -> str:
    """The model family the checkpoint's vectors fit, from the file's header alone."""
    shapes, _ = read_safetensors_header(checkpoint.embedding)
    shape = shapes.get("emb_params")
    if shape is None or len(shape) != 2:
        raise UserError(f"{checkpoint.embedding} holds no [vectors, width] emb_params tensor, so it is not a checkpoint ti-tui wrote")
    return label_for_width(shape[1])

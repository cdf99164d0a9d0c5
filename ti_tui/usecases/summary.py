"""A project at a glance: what is set, what was found on disk, and what stands in the way of training.

Shared by `ti-tui doctor` and the wizard, so both say the same thing in the same words.
"""

from dataclasses import dataclass, field, replace
from pathlib import Path

from ti_tui.dataset.checks import ENOUGH_IMAGES, MIN_IMAGES
from ti_tui.dataset.files import caption_path, display_name
from ti_tui.dataset.prepare import stale_reasons, unreadable_originals
from ti_tui.errors import UserError
from ti_tui.findings import Finding, Fix, errors
from ti_tui.paths import cache_dir
from ti_tui.project import Project
from ti_tui.prompts import load_templates
from ti_tui.sd.availability import Availability, model_availability, tokenizer_availability
from ti_tui.sd.family import FamilyName, family_from_shapes, read_safetensors_header
from ti_tui.sd.source import ModelSource, classify_model_source
from ti_tui.sd.tiny import NOISE_NOTICE
from ti_tui.sd.tokenizer import find_tokenizer
from ti_tui.sd.tokens import check_trigger, read_tokenizer_files, suggest_triggers
from ti_tui.settings import BUILTIN_TINY
from ti_tui.usecases.images import originals


@dataclass(frozen=True)
class ProjectSummary:
    name: str
    root: Path
    model_text: str
    model: Availability
    tokenizer: Availability
    images_dir: Path
    image_count: int
    captioned_count: int
    notices: list[str] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)
    fetchable: bool = False  # fetching would download what is missing

    @property
    def errors(self) -> list[Finding]:
        return errors(self.problems)


def summarize_project(project: Project) -> ProjectSummary:
    settings = project.settings
    problems: list[Finding] = []
    notices: list[str] = []

    source = None
    cache_problem = _cache_problem()
    if cache_problem:
        problems.append(cache_problem)
    try:
        source = classify_model_source(settings.model.base, project.root)
        if source.kind == "builtin" and cache_problem:
            model, source = Availability(False, "cannot be built or found until the cache folder is usable"), None
        else:
            model = model_availability(source)
    except UserError as error:
        model = Availability(False, f"model.base: {error}", "correct model.base in project.toml")
    try:
        tokenizer_setting = settings.model.tokenizer
        tokenizer_folder = project.resolve(tokenizer_setting) if tokenizer_setting else None
        tokenizer = (
            tokenizer_availability(source, tokenizer_folder)
            if source is not None
            else Availability(False, "unknown until the model is found")
        )
    except UserError as error:
        tokenizer = Availability(False, f"model.tokenizer: {error}", "correct model.tokenizer in project.toml")
    fetchable = source is not None and (
        (source.kind == "hub" and not model.found)
        or (source.kind == "file" and model.found and not tokenizer.found and not settings.model.tokenizer)
    )
    for part, availability in (("model", model), ("tokenizer", tokenizer)):
        if not availability.found and availability.fix:
            fix = Fix("fetch") if fetchable else Fix("edit-setting", f"model.{'base' if part == 'model' else 'tokenizer'}")
            problems.append(Finding("error", f"The {part}: {availability.detail}.", _sentence(availability.fix), fix, check=part))
    if settings.model.base == BUILTIN_TINY:
        notices.append(NOISE_NOTICE + ".")

    images: list[Path] = []
    try:
        images_dir = project.images_dir
        images = originals(project)
    except UserError as error:
        images_dir = Path(settings.dataset.images)
        problems.append(Finding("error", f"{str(error).rstrip('.')}.", fix=Fix("edit-setting", "dataset.images"), check="images"))
    except OSError as error:
        problems.append(Finding("error", f"The image folder {images_dir} cannot be read: {error.strerror}.", check="images"))
    else:
        problems += _image_count_problems(images_dir, len(images))
        outdated = stale_reasons(images, project.prepared_dir)
        if outdated:
            shown = "; ".join(outdated[:3]) + (f"; and {len(outdated) - 3} more" if len(outdated) > 3 else "")
            problems.append(
                Finding("error", f"The prepared images are out of date ({shown}).", "Prepare them again.", Fix("prepare"), "prepared")
            )
        problems += _unreadable_problems(images, images_dir, project.prepared_dir)
    captioned = sum(1 for image in images if caption_path(image).is_file())

    if not settings.token.trigger:
        problems.append(
            Finding(
                "error",
                "No trigger word is set: choose one in token.trigger (a made-up word such as zorbot).",
                fix=Fix("edit-setting", "token.trigger"),
                check="trigger",
            )
        )
    elif source is not None and tokenizer.found:
        problems += _trigger_problems(settings.token.trigger, source, tokenizer_folder)

    problems += _template_problems(project)

    return ProjectSummary(
        name=project.name,
        root=project.root,
        model_text=settings.model.base,
        model=model,
        tokenizer=tokenizer,
        images_dir=images_dir,
        image_count=len(images),
        captioned_count=captioned,
        notices=notices,
        problems=problems,
        fetchable=fetchable,
    )


def _unreadable_problems(images: list[Path], images_dir: Path, prepared_dir: Path) -> list[Finding]:
    """The originals that preparing left out because they cannot be read: for the user to take out or delete."""
    findings = []
    for image, reason in unreadable_originals(images, prepared_dir).items():
        name = display_name(image, images_dir)
        why = "Preparing leaves it out, and training waits: take it out of training (dataset.exclude) or delete it."
        findings.append(Finding("error", f"{name} {reason}.", why, Fix("edit-setting", "dataset.exclude"), "unreadable", (name,)))
    return findings


def _template_problems(project: Project) -> list[Finding]:
    """A template file that cannot be read would end a run once its model is loaded: said before."""
    try:
        load_templates(project.settings.training.template, project.root)
    except UserError as error:
        return [Finding("error", f"{str(error).rstrip('.')}.", fix=Fix("edit-setting", "training.template"), check="template")]
    return []


def _cache_problem() -> Finding | None:
    """ti-tui's cache folder (built-in models, model hashes, image facts) must be a folder it can make."""
    try:
        cache_dir()
    except UserError as error:
        return Finding("error", _sentence(str(error)), check="cache")
    return None


def _trigger_problems(trigger: str, source: ModelSource, tokenizer_folder: Path | None) -> list[Finding]:
    """What the Token step would say of the trigger, with made-up words that pass every check.

    All warnings: what cannot be trained at all, project.toml already refuses. The tokenizer is read
    from its files alone, so no model library loads; where its files are not on this machine yet
    (builtin:tiny before first use, a .ckpt whose family is told only by loading it) nothing is said.
    """
    location = find_tokenizer(source, tokenizer_folder, _checkpoint_family(source))
    tokenizer = read_tokenizer_files(location.folder) if location else None
    if tokenizer is None:
        return []
    findings = [replace(finding, severity="warning") for finding in check_trigger(trigger, tokenizer)]
    better = suggest_triggers(trigger, tokenizer) if findings else []
    if better:
        findings[0] = replace(findings[0], why=f"Made-up words that pass every check: {', '.join(better)}.")
    return findings


def _checkpoint_family(source: ModelSource) -> FamilyName | None:
    """SD 1.x or 2.x, for a .safetensors checkpoint (its header tells); None for anything else."""
    if source.kind != "file" or source.path.suffix.lower() != ".safetensors":
        return None
    try:
        return family_from_shapes(read_safetensors_header(source.path)[0], source.path.name).name
    except UserError:
        return None


def _image_count_problems(images_dir: Path, count: int) -> list[Finding]:
    folder = Fix("edit-setting", "dataset.images")
    if images_dir.exists() and not images_dir.is_dir():
        return [Finding("error", f"The image folder {images_dir} is a file; point dataset.images at a folder.", fix=folder, check="images")]
    if not images_dir.is_dir():
        return [
            Finding(
                "error", f"The image folder {images_dir} does not exist. Create it or correct dataset.images.", fix=folder, check="images"
            )
        ]
    if count < MIN_IMAGES:
        what = f"{count} image(s) in {images_dir}; training needs at least {MIN_IMAGES}, 10-50 is best."
        return [Finding("error", what, fix=Fix("import-images"), check="count")]
    if count < ENOUGH_IMAGES:
        return [
            Finding(
                "warning", f"Only {count} images; 10-50 varied ones give a more faithful result.", fix=Fix("import-images"), check="count"
            )
        ]
    return []


def _sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."

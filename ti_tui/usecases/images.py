"""The image steps for a whole project: check, prepare, list the prepared images, preview the prompts.

Shared by the commands and the wizard, so both do the same thing.
"""

import random
from pathlib import Path

from ti_tui.dataset.checks import DatasetReport, check_dataset
from ti_tui.dataset.files import display_name, list_image_files, named_images_without_a_file
from ti_tui.dataset.prepare import PreparationReport, prepare_dataset
from ti_tui.dataset.training_set import training_captions
from ti_tui.errors import UserError
from ti_tui.findings import Finding, Fix
from ti_tui.project import Project
from ti_tui.prompts import TagOptions, build_prompt, load_templates
from ti_tui.sd.availability import native_resolution
from ti_tui.sd.source import classify_model_source


def training_size(project: Project) -> int:
    settings = project.settings
    return settings.dataset.resolution or native_resolution(classify_model_source(settings.model.base, project.root))


def originals(project: Project) -> list[Path]:
    """The project's images, but for those dataset.exclude leaves out of training."""
    dataset = project.settings.dataset
    left_out = set(dataset.exclude)
    return [
        path for path in list_image_files(project.images_dir, dataset.recursive) if display_name(path, project.images_dir) not in left_out
    ]


def check_project_images(project: Project) -> DatasetReport:
    settings = project.settings.dataset
    report = check_dataset(originals(project), training_size(project), settings.kind, settings.background, project.images_dir)
    left_out = set(settings.exclude)
    for path, reason in named_images_without_a_file(project.images_dir, settings.recursive).items():
        name = display_name(path, project.images_dir)
        if name not in left_out:
            # No subjects: it is in no list of images, so it is said of the set as a whole. A warning, as training
            # goes on without it (nothing there to train on), where a damaged image file waits to be taken out.
            report.findings.append(
                Finding("warning", f"{name} {reason}.", "Training leaves it out: delete it, or put an image there.", check="unreadable")
            )
    return report


def prepare_project(project: Project, progress=None) -> PreparationReport:
    """Crop and resize the images for training, redoing only what changed; `progress` as prepare_dataset's."""
    settings = project.settings.dataset
    return prepare_dataset(
        originals(project), project.images_dir, project.prepared_dir, training_size(project), settings.kind, settings.background, progress
    )


def uses_prepared_images(project: Project) -> bool:
    """Training (and the prompt preview) reads prepared/ once it holds images, else the originals."""
    return bool(list_image_files(project.prepared_dir))


def prepared_images(project: Project) -> list[Path]:
    images = list_image_files(project.prepared_dir)
    if not images:
        raise UserError(f"{project.name} has no prepared images yet; prepare them first", Fix("prepare"))
    return images


def preview_prompts(project: Project) -> list[tuple[str, list[str]]]:
    """For each training image, the prompt its caption makes with every line of the template.

    Tags are shuffled and dropped as training will (training.shuffle_tags, keep_tags, tag_dropout),
    drawn with the run's seed: training draws them anew each time an image is used.
    """
    settings = project.settings
    training = settings.training
    options = TagOptions(training.shuffle_tags, training.keep_tags, training.tag_dropout)
    templates = load_templates(training.template, project.root)
    captions = training_captions(originals(project), project.prepared_dir, training.captions_from_file_names)
    draws = random.Random(training.seed)
    return [
        (image.name, [build_prompt(line, settings.token.trigger, caption.text, options, draws) for line in templates])
        for image, caption in captions.items()
    ]

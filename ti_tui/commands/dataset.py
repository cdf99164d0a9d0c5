"""import, check, prepare, caption, captions, prompts: the images and what the trainer will read of them."""

import argparse
from pathlib import Path

from ti_tui.commands import add_project_argument, quoted


def add_commands(commands) -> None:
    importing = commands.add_parser("import", help="copy photos into the project (the sources stay as they are)")
    importing.add_argument("project", type=Path, help="the project")
    importing.add_argument("sources", nargs="+", type=Path, metavar="PATH", help="image files or folders of them")
    importing.add_argument("--recursive", action="store_true", help="also look in folders inside the folders")
    importing.set_defaults(handler=import_photos)

    check = commands.add_parser("check", help="check every image and say what is wrong, in words")
    add_project_argument(check)
    check.set_defaults(handler=check_images)

    prepare = commands.add_parser("prepare", help="crop and resize the images for training (face-aware)")
    add_project_argument(prepare)
    prepare.set_defaults(handler=prepare_images)

    caption = commands.add_parser("caption", help="write captions with an image-to-text model such as BLIP")
    add_project_argument(caption)
    caption.add_argument("--model", required=True, help="a captioning model folder, or a Hugging Face id in the local cache")
    caption.add_argument("--overwrite", action="store_true", help="also replace captions you wrote or edited")
    caption.set_defaults(handler=caption_images)

    captions = commands.add_parser("captions", help="show the captions, with warnings, or edit them all at once")
    add_project_argument(captions)
    captions.add_argument("--replace", nargs=2, metavar=("OLD", "NEW"), help="replace text in every caption")
    captions.add_argument("--prepend", metavar="TEXT", help="put words at the start of every caption")
    captions.add_argument("--append", metavar="TEXT", help="put words at the end of every caption")
    captions.add_argument("--remove", metavar="WORD", help="remove a word from every caption")
    captions.set_defaults(handler=edit_or_show_captions)

    prompts = commands.add_parser("prompts", help="show the exact training prompts each image gets")
    add_project_argument(prompts)
    prompts.set_defaults(handler=show_prompts)


def print_findings(report) -> None:
    for finding in report.findings:
        print(f"  {finding.severity}: {finding}")


def import_photos(arguments: argparse.Namespace) -> int:
    from ti_tui.dataset.importing import import_images
    from ti_tui.project import Project

    project = Project.open(arguments.project)
    report = import_images(arguments.sources, project.images_dir, arguments.recursive)
    print(f"Imported {len(report.imported)} image(s) into {project.images_dir}")
    for name in report.already_there:
        print(f"  already there: {name}")
    for sentence in report.refused:
        print(f"  left out: {sentence}")
    if report.in_subfolders:
        print(f"  {report.in_subfolders} image(s) in folders inside those you named were not looked at; add --recursive to import them too")
    return 0


def check_images(arguments: argparse.Namespace) -> int:
    from ti_tui.project import Project
    from ti_tui.usecases.images import check_project_images, training_size

    project = Project.open(arguments.project)
    report = check_project_images(project)
    print(f"{len(report.facts)} image(s) checked for training at {training_size(project)} px")
    print_findings(report)
    if not report.findings:
        print("  No problems found.")
    return 1 if report.errors else 0


def prepare_images(arguments: argparse.Namespace) -> int:
    from ti_tui.project import Project
    from ti_tui.usecases.images import prepare_project, training_size

    project = Project.open(arguments.project)
    report = prepare_project(project)
    print(
        f"Prepared {len(report.prepared)} image(s) at {training_size(project)} px into {project.prepared_dir}; "
        f"{len(report.unchanged)} unchanged"
    )
    for name in report.remade:
        print(f"  made again: {name} (the prepared copy could not be read)")
    for name in report.kept_edits:
        print(f"  kept as you edited it: {name} (delete it to have it prepared again)")
    for name in report.retired:
        print(f"  moved to removed/ (its original is gone): {name}")
    for sentence in report.problems:
        print(f"  left out: {sentence}")
    if report.problems:
        print("  Training waits until those are taken out of training (list them in dataset.exclude in project.toml) or deleted")
    return 0


def caption_images(arguments: argparse.Namespace) -> int:
    from ti_tui.dataset.captioner import run_in_worker
    from ti_tui.project import Project
    from ti_tui.usecases.images import prepared_images

    project = Project.open(arguments.project)
    kept = 0
    for progress in run_in_worker(arguments.model, prepared_images(project), arguments.overwrite):
        if progress.kept:
            kept += 1
        elif progress.caption is None:
            print(f"[{progress.done}/{progress.total}] {progress.image}: the model said nothing; no caption written")
        else:
            print(f"[{progress.done}/{progress.total}] {progress.image}: {progress.caption}")
    if kept:
        print(f"Kept {kept} caption(s) you wrote or edited (--overwrite replaces them too)")
    return 0


def edit_or_show_captions(arguments: argparse.Namespace) -> int:
    from ti_tui.dataset import captions
    from ti_tui.project import Project
    from ti_tui.usecases.images import prepared_images

    project = Project.open(arguments.project)
    images = prepared_images(project)
    edits = []
    if arguments.replace:
        edits.append(captions.replacing(*arguments.replace))
    if arguments.prepend:
        edits.append(captions.prepending(arguments.prepend))
    if arguments.append:
        edits.append(captions.appending(arguments.append))
    if arguments.remove:
        edits.append(captions.removing_word(arguments.remove))
    settings = project.settings
    for edit in edits:
        changed = captions.edit_captions(project.prepared_dir, edit, settings.training.captions_from_file_names)
        print(f"Changed {len(changed)} caption(s); the earlier ones are in {project.prepared_dir / captions.HISTORY}")
    found = captions.captions_of(images, project.prepared_dir, settings.training.captions_from_file_names)
    if not edits:
        for image, caption in found.items():
            print(f"{image.name}: {caption.shown()}")
    for warning in captions.caption_warnings(found, settings.token.trigger, settings.token.init_text, settings.training.template):
        print(f"  warning: {warning.subjects[0]}: {warning.what}")
    return 0


def show_prompts(arguments: argparse.Namespace) -> int:
    from ti_tui.project import Project
    from ti_tui.usecases.images import preview_prompts, uses_prepared_images

    project = Project.open(arguments.project)
    training = project.settings.training
    print(f"Template {training.template}: one line is drawn at random each time an image is used")
    if training.shuffle_tags or training.tag_dropout:
        print("Caption tags are shuffled or dropped anew each time; these are one draw")
    for image, prompts in preview_prompts(project):
        print(image)
        for prompt in prompts:
            print(f"  {prompt}")
    if not uses_prepared_images(project):
        print(f"(from the originals' captions; after `ti-tui prepare {quoted(project.root)}` the prepared ones count)")
    return 0

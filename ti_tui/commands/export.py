"""export: the chosen checkpoint written where a UI reads embeddings."""

import argparse
from pathlib import Path

from ti_tui.commands import add_project_argument, quoted
from ti_tui.errors import UserError


def add_commands(commands) -> None:
    export = commands.add_parser("export", help="write the chosen checkpoint where your UI reads embeddings, named after the word")
    add_project_argument(export)
    export.add_argument("--step", type=int, metavar="N", help="the checkpoint's step (default: the one chosen in Compare, else the last)")
    export.add_argument("--run", metavar="RUN", help="the run, by its folder name (default: export.run, else the newest)")
    export.add_argument(
        "--format",
        dest="formats",
        action="append",
        metavar="FORMAT",
        help="safetensors | pt | diffusers; repeat it or list them with commas (default: export.formats)",
    )
    export.add_argument(
        "--to",
        type=Path,
        metavar="DIR",
        help="a web UI, Forge, SD.Next, ComfyUI or InvokeAI folder, or any folder (default: export.folder)",
    )
    export.add_argument("--force", action="store_true", help="overwrite files of the same name")
    export.set_defaults(handler=export_project)


def export_project(arguments: argparse.Namespace) -> int:
    from ti_tui.project import Project
    from ti_tui.usecases.export import ExportExistsError, export_checkpoint, prompt_usage

    project = Project.open(arguments.project)
    formats = [part for text in arguments.formats or [] for part in text.split(",") if part.strip()]
    try:
        result = export_checkpoint(project, arguments.step, arguments.run, formats or None, arguments.to, arguments.force)
    except ExportExistsError as error:
        names = " and ".join(str(path) for path in error.existing)
        verb = "exists" if len(error.existing) == 1 else "exist"
        raise UserError(
            f"{names} already {verb}; nothing was written. Add --force to overwrite, or set export.name in "
            f"{quoted(project.store.path)} to export under another name"
        ) from None
    target = result.target
    print(f"Checkpoint: step {result.checkpoint.step} of run {result.run.id}")
    print(f"{target.folder} is {target.description}.")
    for path in result.paths:
        print(f"Kept {path}: it already holds this checkpoint" if path in result.kept else f"Wrote {path}")
    for warning in result.warnings:
        print(f"Warning: {warning}")
    usage = prompt_usage(result.name, target)
    print("To use the word, type:" if len(usage) == 1 else "To use the word:")
    width = max(len(tool) for tool, _ in usage) + 2
    for tool, text in usage:
        print(f"  {tool.ljust(width)}{text}")
    return 0

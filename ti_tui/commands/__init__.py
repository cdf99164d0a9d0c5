"""The sub-commands of `ti-tui`, one module per part of the journey.

Each module's `add_commands` declares its parsers with only argparse at hand; a command's handler
imports what it needs when it runs, so that `ti-tui --help` stays instant. Core code says what to
do as a `Fix`; here it becomes the command to type.
"""

import argparse
from pathlib import Path


def add_project_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", nargs="?", type=Path, default=Path("."), help="the project (default: this folder)")


def quoted(path) -> str:
    import shlex

    return shlex.quote(str(path))


def command_for(fix, project: Path | None) -> str | None:
    """The command that does what a `Fix` says, as the user would type it; None when words say it all."""
    if fix is None:
        return None
    where = quoted(project) if project is not None else "PROJECT"
    subject = quoted(fix.subject) if fix.subject else ""
    return {
        "create-project": f"ti-tui new {subject}",
        "open-project": f"ti-tui {subject}",
        "fetch": f"ti-tui fetch {where}",
        "import-images": f"ti-tui import {where} PHOTOS",
        "prepare": f"ti-tui prepare {where}",
        "train": f"ti-tui train {where}",
        "resume": f"ti-tui train {where} --resume {subject}",
        "continue-from": f"ti-tui train {where} --from {subject}",
        "stop": f"ti-tui stop {where} {subject}",
        "list-runs": f"ti-tui runs {where}",
    }.get(fix.action)


def with_command(text: str, fix, project: Path | None) -> str:
    """A sentence from core, with the command that does what it advises."""
    command = command_for(fix, project)
    if command is None:
        return text
    text = text.rstrip()
    end = "." if text.endswith(".") else ""
    return f"{text.removesuffix('.')} (run: {command}){end}"


def finding_line(finding, project: Path | None) -> str:
    return with_command(str(finding), finding.fix, project)

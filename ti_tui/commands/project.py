"""new, open, doctor, fetch: making a project and checking what it and this machine have."""

import argparse
from pathlib import Path

from ti_tui.commands import add_project_argument, finding_line, quoted
from ti_tui.kinds import DEFAULT_KIND, PROJECT_KINDS

DOCTOR_LABEL_WIDTH = 17


def add_commands(commands) -> None:
    opening = commands.add_parser("open", help="open the wizard on a project, or on its start screen (the default command)")
    opening.add_argument(
        "project", nargs="?", type=Path, help="project folder or its project.toml (default: this folder's, else the start screen)"
    )
    opening.set_defaults(handler=open_project)

    new = commands.add_parser("new", help="create a project folder with a commented project.toml")
    new.add_argument("folder", help="the project folder (created if missing)")
    new.add_argument("--model", help="SD 1.x/2.x .safetensors/.ckpt file, diffusers folder, Hugging Face id, or builtin:tiny")
    new.add_argument("--images", type=Path, help="folder with your photos (default: FOLDER/images)")
    new.add_argument("--token", help="the trigger word to train (default: from the folder name)")
    new.add_argument(
        "--kind",
        choices=list(PROJECT_KINDS),
        default=DEFAULT_KIND,
        help=f"what the images show: {'; '.join(f'{name}: {kind.words}' for name, kind in PROJECT_KINDS.items())} (default: {DEFAULT_KIND})",
    )
    new.add_argument("--init-text", help="the words the vectors start from (default: the kind's, such as person)")
    new.set_defaults(handler=new_project)

    doctor = commands.add_parser("doctor", help="report versions, the compute device and problems in words")
    doctor.add_argument("project", nargs="?", type=Path, help="also check this project (default: the one in this folder)")
    doctor.set_defaults(handler=doctor_report)

    fetch = commands.add_parser("fetch", help="download, once, the model or tokenizer the project lacks (online)")
    add_project_argument(fetch)
    fetch.set_defaults(handler=fetch_files)


def new_project(arguments: argparse.Namespace) -> int:
    from ti_tui.project import create_project
    from ti_tui.usecases.summary import summarize_project

    project = create_project(
        arguments.folder,
        model=arguments.model,
        images=arguments.images,
        token=arguments.token,
        kind=arguments.kind,
        init_text=arguments.init_text,
    )
    settings = project.settings
    print(f"Created {project.store.path}")
    print(f"  model    {settings.model.base}")
    print(f"  kind     {PROJECT_KINDS[arguments.kind].words} (--kind {' | '.join(PROJECT_KINDS)})")
    print(f"  trigger  {settings.token.trigger or '(none yet: set token.trigger)'}, starting from {settings.token.init_text!r}")
    print(f"  images   {project.images_dir}")
    for finding in summarize_project(project).problems:
        if finding.check == "trigger" and settings.token.trigger:  # what the Token step would say of the word
            print(f"Warning: {finding_line(finding, project.root)}")
    print(f"Put 10-50 photos into the images folder, then open the project: ti-tui {quoted(arguments.folder)}")
    return 0


def open_project(arguments: argparse.Namespace) -> int:
    from ti_tui.project import PROJECT_FILE_NAME, Project
    from ti_tui.tui.app import create_app
    from ti_tui.tui.widgets.picture import picture_class

    folder = arguments.project if arguments.project is not None else Path.cwd() if Path(PROJECT_FILE_NAME).is_file() else None
    project = Project.open(folder) if folder is not None else None
    picture_class()  # asks the terminal how it draws images, which it cannot once the wizard runs
    wizard = create_app(project)
    wizard.run()
    return wizard.return_code or 0  # 1 when it stopped on an error


def doctor_report(arguments: argparse.Namespace) -> int:
    """Print the report; 1 when something blocks training, else 0."""
    from ti_tui.project import PROJECT_FILE_NAME
    from ti_tui.usecases.doctor import diagnose

    project = arguments.project
    if project is None and Path(PROJECT_FILE_NAME).is_file():
        project = Path.cwd()
    report = diagnose(project)
    for number, section in enumerate(report.sections):
        print(("\n" if number else "") + section.title)
        for label, value in section.facts:
            print(f"  {label.ljust(DOCTOR_LABEL_WIDTH)}{value}")
        for line in section.lines:
            print("  " + line.replace("\n", "\n  "))
    print("\nVerdict")
    said = [finding for finding in report.listed_above if finding.severity != "error"]
    for finding in report.findings:
        if finding not in said:
            print(f"  {'problem' if finding.severity == 'error' else 'warning'}: {finding_line(finding, project)}")
    if said:
        print(f"  {len(said)} warning(s) about the images, listed under Images above.")
    if not report.blocks_training:
        print("  No problems found." if not report.findings else "  Nothing blocks training.")
    return 1 if report.blocks_training else 0


def fetch_files(arguments: argparse.Namespace) -> int:
    from ti_tui.project import Project
    from ti_tui.sd.fetch import fetch_missing

    project = Project.open(arguments.project)
    fetched = fetch_missing(project.settings.model, project.root)
    print("\n".join(fetched) if fetched else f"Nothing to fetch: {project.settings.model.base} is all here.")
    return 0

"""The `ti-tui` command. Start-up imports nothing heavy: each command imports what it needs when it runs."""

import argparse
import shlex
import sys
from pathlib import Path

from ti_tui import __version__
from ti_tui.errors import UserError

DESCRIPTION = """\
Train a Stable Diffusion textual-inversion embedding: a new word for a face, a character or a
style, learned from 10-50 images, usable on every model built on the same base.

  ti-tui new myface --token wdnsdy     create a project in ./myface
  ti-tui myface                        open it in the wizard (a folder or its project.toml)
  ti-tui doctor myface                 check this machine and the project
  ti-tui train myface                  train, with a progress line (the trainer outlives the terminal)
  ti-tui inspect zorbot.safetensors    what an embedding file holds, and where it loads"""


def build_parser() -> tuple[argparse.ArgumentParser, tuple[str, ...]]:
    parser = argparse.ArgumentParser(
        prog="ti-tui",
        usage="ti-tui [PROJECT] | ti-tui COMMAND [options]",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ti-tui {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands", prog="ti-tui")

    open_command = commands.add_parser("open", help="open a project in the wizard (the default command)")
    open_command.add_argument("project", nargs="?", default=".", type=Path, help="project folder or its project.toml")

    new = commands.add_parser("new", help="create a project folder with a commented project.toml")
    new.add_argument("folder", help="the project folder (created if missing)")
    new.add_argument("--model", help="SD 1.x/2.x .safetensors/.ckpt file, diffusers folder, Hugging Face id, or builtin:tiny")
    new.add_argument("--images", type=Path, help="folder with your photos (default: FOLDER/images)")
    new.add_argument("--token", help="the trigger word to train (default: from the folder name)")

    doctor = commands.add_parser("doctor", help="report versions, the compute device and problems in words")
    doctor.add_argument("project", nargs="?", type=Path, help="also check this project (default: the one in this folder)")
    train = commands.add_parser("train", help="train the project's embedding; the trainer runs on if this command ends")
    train.add_argument("project", nargs="?", type=Path, default=Path("."), help="the project (default: this folder)")
    train.add_argument("--steps", type=int, help="steps for this run (default: training.steps)")
    train.add_argument("--detach", action="store_true", help="start the trainer and return at once")
    train.add_argument("--resume", metavar="RUN", help="resume an interrupted run from its last checkpoint (RUN may be 'last')")
    train.add_argument("--from", dest="start_from", type=Path, metavar="CHECKPOINT", help="start a new run from these vectors")

    runs = commands.add_parser("runs", help="list the project's training runs and what each is doing")
    runs.add_argument("project", nargs="?", type=Path, default=Path("."), help="the project (default: this folder)")

    stop = commands.add_parser("stop", help="ask a running trainer to save a checkpoint and stop")
    stop.add_argument("project", nargs="?", type=Path, default=Path("."), help="the project (default: this folder)")
    stop.add_argument("run", nargs="?", default="last", help="the run id (default: the newest)")

    inspect = commands.add_parser("inspect", help="describe embedding files and which UIs will load them")
    inspect.add_argument("files", nargs="+", type=Path, metavar="FILE", help=".safetensors, .pt or .bin embedding")
    inspect.add_argument("--model", help="compare with this model: vector widths, typical token length")

    fetch = commands.add_parser("fetch", help="download, once, the model or tokenizer the project lacks (online)")
    fetch.add_argument("project", nargs="?", type=Path, default=Path("."), help="the project (default: this folder)")
    return parser, tuple(commands.choices)


def _with_default_command(argv: list[str], command_names: tuple[str, ...]) -> list[str]:
    """`ti-tui PROJECT` means `ti-tui open PROJECT`, and so does a bare `ti-tui`."""
    if not argv or argv[0] == "--" or (argv[0] not in command_names and not argv[0].startswith("-")):
        return ["open", *argv]
    return argv


def main(argv: list[str] | None = None) -> int:
    parser, command_names = build_parser()
    arguments = parser.parse_args(_with_default_command(list(sys.argv[1:] if argv is None else argv), command_names))
    try:
        if arguments.command == "new":
            return _new(arguments)
        if arguments.command == "doctor":
            from ti_tui.doctor import run_doctor
            from ti_tui.project import PROJECT_FILE_NAME

            project = arguments.project
            if project is None and Path(PROJECT_FILE_NAME).is_file():
                project = Path.cwd()
            return run_doctor(project, sys.stdout)
        if arguments.command == "train":
            return _train(arguments)
        if arguments.command == "runs":
            return _runs(arguments)
        if arguments.command == "stop":
            return _stop(arguments)
        if arguments.command == "inspect":
            return _inspect(arguments)
        if arguments.command == "fetch":
            return _fetch(arguments)
        return _open(arguments)
    except UserError as error:
        print(f"ti-tui: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        # A full disk or a permission problem: name the file, keep the traceback for bugs.
        where = f"{error.filename}: " if error.filename else ""
        print(f"ti-tui: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _new(arguments: argparse.Namespace) -> int:
    from ti_tui.project import create_project

    project = create_project(arguments.folder, model=arguments.model, images=arguments.images, token=arguments.token)
    settings = project.settings
    print(f"Created {project.store.path}")
    print(f"  model    {settings.model.base}")
    print(f"  trigger  {settings.token.trigger or '(none yet: set token.trigger)'}")
    print(f"  images   {project.images_dir}")
    print(f"Put 10-50 photos into the images folder, then open the project: ti-tui {shlex.quote(str(arguments.folder))}")
    return 0


def _train(arguments: argparse.Namespace) -> int:
    from ti_tui.project import Project
    from ti_tui.train.follow import follow
    from ti_tui.train.launch import create_run, find_run, prepare_resume, start_trainer
    from ti_tui.train.schedule import LearningRateSchedule

    project = Project.open(arguments.project)
    if arguments.steps is not None and arguments.steps < 1:
        raise UserError("--steps must be at least 1")
    if arguments.resume:
        run = find_run(project, arguments.resume)
        prepare_resume(run)
        print(f"Resuming run {run.id}")
    else:
        run = create_run(project, steps=arguments.steps, start_from=arguments.start_from)
        facts = run.read()
        schedule = LearningRateSchedule.from_settings(project.settings.schedule, facts["steps"])
        print(f"Run {run.id}: {facts['steps']} steps, {len(facts['images'])} images, {facts['vectors']} vector(s)")
        print("Learning rate: " + "; ".join(schedule.describe()))
    process = start_trainer(run, project.settings.training.processes)
    if arguments.detach:
        print(f"The trainer runs in the background (process {process.pid}); its log is {run.log_file}")
        print(f"Follow it with `ti-tui runs {shlex.quote(str(project.root))}`; stop it with `ti-tui stop {shlex.quote(str(project.root))} {run.id}`")
        return 0
    try:
        status = follow(run, process)
    except KeyboardInterrupt:
        print(f"\nStopped watching; the trainer goes on. Stop it with: ti-tui stop {shlex.quote(str(project.root))} {run.id}")
        return 130
    return 0 if status.state == "finished" else 1


def _runs(arguments: argparse.Namespace) -> int:
    from ti_tui.project import Project
    from ti_tui.train.launch import list_runs
    from ti_tui.train.run import run_status

    project = Project.open(arguments.project)
    runs = list_runs(project)
    if not runs:
        print(f"{project.name} has no runs yet; start one with: ti-tui train {shlex.quote(str(project.root))}")
    for run in runs:
        print(f"{run.id}  {run_status(run).describe()}")
    return 0


def _stop(arguments: argparse.Namespace) -> int:
    from ti_tui.project import Project
    from ti_tui.train.launch import find_run
    from ti_tui.train.run import run_status

    project = Project.open(arguments.project)
    run = find_run(project, arguments.run)
    status = run_status(run)
    if status.state not in ("starting", "running", "paused"):
        print(f"Run {run.id} is not running: {status.describe()}")
        return 1
    run.request("stop")
    print(f"Asked run {run.id} to save a checkpoint and stop (it stops after the current step).")
    return 0


def _inspect(arguments: argparse.Namespace) -> int:
    from ti_tui.embedding.files import read_embedding
    from ti_tui.embedding.inspect import ModelYardstick, describe_embedding

    model = None
    if arguments.model:
        from ti_tui.sd.loading import read_token_table

        table = read_token_table(arguments.model, Path.cwd())
        model = ModelYardstick(table.family.label, table.weight.shape[1], table.typical_norm(), table.name)
    failures = 0
    for number, path in enumerate(arguments.files):
        if number:
            print()
        print(path)
        try:
            lines = describe_embedding(read_embedding(path), model)
        except UserError as error:
            lines = [("problem", str(error))]
        failures += any(label == "problem" for label, _ in lines)
        for label, value in lines:
            print(f"  {label.ljust(11)}{value}")
    return 2 if failures else 0


def _fetch(arguments: argparse.Namespace) -> int:
    from ti_tui.project import Project
    from ti_tui.sd.fetch import fetch_missing

    project = Project.open(arguments.project)
    fetched = fetch_missing(project.settings.model, project.root)
    print("\n".join(fetched) if fetched else f"Nothing to fetch: {project.settings.model.base} is all here.")
    return 0


def _open(arguments: argparse.Namespace) -> int:
    from ti_tui.project import Project
    from ti_tui.tui.app import create_app

    project = Project.open(arguments.project)
    create_app(project).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

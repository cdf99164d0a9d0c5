"""The `ti-tui` command. Start-up imports nothing heavy: each command imports what it needs when it runs."""

import argparse
import os
import sys

from ti_tui import __version__
from ti_tui.errors import UserError
from ti_tui.paths import is_symlink_loop, symlink_loop_message

DESCRIPTION = """\
Train a Stable Diffusion textual-inversion embedding: a new word for a face, a character or a
style, learned from 10-50 images, usable on every model built on the same base.

  ti-tui new myface --kind face        create a project in ./myface
  ti-tui myface                        open it in the wizard (a folder or its project.toml)
  ti-tui doctor myface                 check this machine and the project
  ti-tui import myface ~/Pictures/me   copy photos in; ti-tui check / prepare / captions work on them
  ti-tui train myface                  train, with a progress line (the trainer outlives the terminal)
  ti-tui xy myface --y "cfg=3-9 (+3)"  compare the checkpoints in a labelled grid
  ti-tui export myface --to ~/ComfyUI  write the chosen checkpoint where a UI reads embeddings
  ti-tui inspect zorbot.safetensors    what an embedding file holds, and where it loads"""


COMMAND_MODULES = ("project", "training", "dataset", "embeddings", "compare", "export")


def build_parser() -> tuple[argparse.ArgumentParser, tuple[str, ...]]:
    import importlib

    parser = argparse.ArgumentParser(
        prog="ti-tui",
        usage="ti-tui [PROJECT] | ti-tui COMMAND [options]",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ti-tui {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands", prog="ti-tui")
    for name in COMMAND_MODULES:
        importlib.import_module(f"ti_tui.commands.{name}").add_commands(commands)
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
        return arguments.handler(arguments)
    except UserError as error:
        print(f"ti-tui: {_in_words(error, getattr(arguments, 'project', None))}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`ti-tui prompts | head`): nothing more to say, and no one to say it to.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:
        # A full disk or a permission problem: name the file, keep the traceback for bugs.
        print(f"ti-tui: {_os_error_in_words(error)}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        # pathlib's word for a symbolic-link loop; any other RuntimeError is a bug, and keeps its traceback.
        if not is_symlink_loop(error):
            raise
        print(f"ti-tui: {symlink_loop_message(_looping_path(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _os_error_in_words(error: OSError) -> str:
    if is_symlink_loop(error) and error.filename:
        return symlink_loop_message(error.filename)
    where = f"{error.filename}: " if error.filename else ""
    return f"{where}{error.strerror or error}"


def _looping_path(error: RuntimeError) -> str:
    """The path in pathlib's "Symlink loop from '/a/b'"."""
    return str(error).removeprefix("Symlink loop from ").strip("'\"")


def _in_words(error: UserError, project) -> str:
    """The error, each fix in it said as the command to type."""
    from ti_tui.commands import finding_line, with_command
    from ti_tui.errors import FindingsError

    if isinstance(error, FindingsError):
        return "\n  ".join([error.heading, *(finding_line(finding, project) for finding in error.findings)])
    return with_command(str(error), error.fix, project)


if __name__ == "__main__":
    raise SystemExit(main())

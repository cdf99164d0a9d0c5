"""The sub-commands of `ti-tui`, one module per part of the journey.

Each module's `add_commands` declares its parsers with only argparse at hand; a command's handler
imports what it needs when it runs, so that `ti-tui --help` stays instant.
"""

import argparse
from pathlib import Path


def add_project_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", nargs="?", type=Path, default=Path("."), help="the project (default: this folder)")


def quoted(path) -> str:
    import shlex

    return shlex.quote(str(path))

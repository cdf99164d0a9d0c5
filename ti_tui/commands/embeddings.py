"""inspect: what an embedding file holds, and which tools will load it."""

import argparse
from pathlib import Path

from ti_tui.errors import UserError


def add_commands(commands) -> None:
    inspect = commands.add_parser("inspect", help="describe embedding files and which UIs will load them")
    inspect.add_argument("files", nargs="+", type=Path, metavar="FILE", help=".safetensors, .pt or .bin embedding")
    inspect.add_argument("--model", help="compare with this model: vector widths, typical token length")
    inspect.set_defaults(handler=inspect_embeddings)


def inspect_embeddings(arguments: argparse.Namespace) -> int:
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

"""The README's quick start is exactly two commands, and CI runs the same test command."""

import re

from conftest import REPOSITORY


def quick_start_commands() -> list[str]:
    readme = (REPOSITORY / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_quick_start_has_exactly_two_commands_one_opens_the_sample_one_runs_the_tests():
    commands = quick_start_commands()
    assert len(commands) == 2
    assert commands[0].startswith("python3 -m venv") and commands[0].endswith("ti-tui sample_project")
    assert commands[1].endswith("-m pytest")
    for command in commands:
        # Torch first, pinned, so that nothing pulls a different (CUDA) build along.
        assert command.index("pip install torch==2.13.0") < command.index("pip install -e")


def test_ci_runs_the_readme_test_command():
    ci_lines = (REPOSITORY / ".ci" / "run").read_text().splitlines()
    assert quick_start_commands()[1] in ci_lines


KEY_TABLES = {
    "Everywhere": "ti_tui.tui.app:WizardApp",
    "Start screen": "ti_tui.tui.screens.start:StartScreen",
    "Every step": "ti_tui.tui.screens.step:StepScreen",
    "Images": "ti_tui.tui.screens.images:ImagesScreen",
    "Captions": "ti_tui.tui.screens.captions:CaptionsScreen",
    "Token": "ti_tui.tui.screens.token:TokenScreen",
    "Settings": "ti_tui.tui.screens.settings:SettingsScreen",
    "Train": "ti_tui.tui.screens.train:TrainScreen",
    "Compare": "ti_tui.tui.screens.compare:CompareScreen",
    "Apply": "ti_tui.tui.screens.apply:ApplyScreen",
}


def declared_keys(owner: str) -> list[tuple[str, str]]:
    """(keys, what they do) for each binding the class itself declares, as the README writes them."""
    import importlib

    from textual.binding import Binding
    from textual.keys import key_to_character

    module, name = owner.split(":")
    rows: dict[str, list[str]] = {}  # what the keys do: the keys, so that keys doing the same share a row
    for entry in getattr(importlib.import_module(module), name).__dict__.get("BINDINGS", []):
        binding = entry if isinstance(entry, Binding) else Binding(*entry)
        if not binding.description or binding.system:
            continue
        keys = [binding.key_display] if binding.key_display else [_key_name(key_to_character, key) for key in binding.key.split(",")]
        rows.setdefault(binding.group.description if binding.group else binding.description, []).extend(keys)
    return [(", ".join(keys), words) for words, keys in rows.items()]


def _key_name(key_to_character, key: str) -> str:
    """`]` for right_square_bracket; a key without a printable character by its name (escape)."""
    character = key_to_character(key)
    return character if character is not None and character.isprintable() else key


def readme_key_table(title: str) -> list[tuple[str, str]]:
    section = (REPOSITORY / "README.md").read_text().split("\n### Keys\n", 1)[1].split("\n## ", 1)[0]
    table = section.split(f"\n#### {title}\n", 1)[1].split("\n#### ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("|")][2:]  # under the header and its rule
    return [tuple(cell.strip().strip("`") for cell in line.strip("|").split("|")) for line in rows]


def test_the_readme_key_tables_are_the_keys_the_wizard_binds():
    for title, owner in KEY_TABLES.items():
        expected = declared_keys(owner)
        table = "\n".join(f"| `{keys}` | {words} |" for keys, words in expected)
        assert readme_key_table(title) == expected, f"README, #### {title} should read:\n| Key | Does |\n|---|---|\n{table}"

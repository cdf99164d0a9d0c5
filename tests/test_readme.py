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

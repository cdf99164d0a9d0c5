"""The real `ti-tui` in a real terminal (tmux, 80x24), driven by keys as a user would, from the start
screen to a prepared, captioned project with a trigger of its own."""

import os
import shutil
import subprocess
import sys
import time
import tomllib

import pytest
from conftest import SAMPLE_PROJECT

from ti_tui.dataset.captions import read_caption_file
from ti_tui.dataset.files import list_image_files

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed here (.ci/run installs it)"),
]
SESSION = f"ti-tui-test-{os.getpid()}"


def tmux(*arguments: str) -> str:
    return subprocess.run(["tmux", *arguments], capture_output=True, text=True, check=True).stdout


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION)


def wait_for(text: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = screen()
        if text in shown:
            return shown
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; the screen:\n{screen()}")


def keys(*names: str) -> None:
    """Each key at a person's pace: a key sent the instant after another can reach a widget before the
    screen has moved the focus the first one asked for (and an Escape with the next key reads as Alt)."""
    for name in names:
        tmux("send-keys", "-t", SESSION, name)
        time.sleep(0.3)


def type_text(text: str) -> None:
    tmux("send-keys", "-t", SESSION, "-l", text)
    time.sleep(0.3)


@pytest.fixture
def terminal(tmp_path):
    environment = {
        **os.environ,
        "TI_TUI_DATA_DIR": str(tmp_path / "data"),
        "TI_TUI_IMAGES": "off",
        "TERM": "xterm-256color",
    }
    command = f"cd {tmp_path} && {sys.executable} -m ti_tui"
    subprocess.run(["tmux", "new-session", "-d", "-s", SESSION, "-x", "80", "-y", "24", command], env=environment, check=True)
    try:
        yield tmp_path
    finally:
        subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)


def test_keys_alone_take_a_new_project_to_prepared_captioned_images_and_a_trigger(terminal):
    photos = terminal / "photos"
    shutil.copytree(SAMPLE_PROJECT / "images", photos)
    wait_for("Recent projects")
    keys("n")
    wait_for("A new project")
    type_text("zorbot")  # after the folder it starts in
    wait_for("(a new folder)")
    keys("Tab")
    type_text("builtin:tiny")
    wait_for("Found: SD 1.x")
    keys("Tab")
    type_text(str(photos))
    wait_for("10 image(s) in it")
    keys("Tab", "Enter")  # the kind: open the list
    wait_for("a subject")
    keys("Down", "Enter", "Tab")
    type_text("wdnsdy")
    wait_for("Token step checks it")
    keys("Enter")
    wait_for("image(s) for training")
    keys("p")
    wait_for("All prepared.")
    keys("2")
    wait_for("Training prompts")  # in the first caption, its cursor at the end
    type_text(" at dusk")
    wait_for(" at dusk")
    keys("Enter")
    wait_for("02-beach")
    keys("Escape", "3")
    wait_for("is read as")
    keys("End", "C-u")  # the cursor arrives in the trigger
    type_text("zorbix")
    keys("Enter")
    wait_for("'zorbix' is read as")
    keys("C-q")

    project = terminal / "zorbot"
    settings = tomllib.loads((project / "project.toml").read_text())
    assert settings["token"]["trigger"] == "zorbix" and settings["dataset"]["kind"] == "subject"
    prepared = list_image_files(project / "prepared")
    assert len(prepared) == 10
    assert read_caption_file(prepared[0]).endswith(" at dusk")

"""The real `ti-tui` in a real terminal (tmux, 80x24), driven by keys at a person's pace while two other
processes keep both cores busy: from the start screen to a new project, its images added, taken out and
prepared, five captions typed, the schedule mended, a run started and the wizard quit while it trains, then
reopened. Every caption file and project.toml are then checked exactly."""

import os
import shutil
import subprocess
import sys
import time
import tomllib

import numpy as np
import pytest
from conftest import SAMPLE_PROJECT, run_ti_tui
from PIL import Image

from ti_tui.dataset.captions import read_caption_file
from ti_tui.dataset.files import list_image_files
from ti_tui.runs import RunDirectory, run_status

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed here (.ci/run installs it)"),
]
PACE = 0.1  # seconds between keys: a person typing briskly
SESSION = f"ti-tui-test-{os.getpid()}"
UNCAPTIONED = ("03-night", "04-room", "05-forest", "06-closeup", "07-city")


def tmux(*arguments: str) -> str:
    return subprocess.run(["tmux", *arguments], capture_output=True, text=True, check=True).stdout


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION)


def wait_for(text: str, timeout: float = 300) -> str:
    """Until the terminal shows `text`, also where a line wraps inside it. The limit is a safety net for a broken
    test, not a measure."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = screen()
        if text in shown or " ".join(text.split()) in " ".join(shown.split()):
            return shown
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; the screen:\n{screen()}")


def lines() -> list[str]:
    """The screen's lines, each without the frames and bars drawn around text."""
    return [line.strip(" █▌▐▎▊│^▔▁").strip() for line in screen().splitlines()]


def wait_until(condition, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never came: {what}; the screen:\n{screen()}")
        time.sleep(0.2)


def leave_the_field() -> None:
    """Escape, then a glance at the footer before the next key: Escape and a key in one read of the terminal
    are what Alt and that key send, as in every terminal program."""
    keys("Escape")
    wait_for("] Next")


def keys(*names: str) -> None:
    for name in names:
        tmux("send-keys", "-t", SESSION, name)
        time.sleep(PACE)


def type_text(text: str) -> None:
    for character in text:
        tmux("send-keys", "-t", SESSION, "-l", character)
        time.sleep(PACE)


def open_wizard(folder, *arguments: str) -> None:
    environment = {**os.environ, "TI_TUI_DATA_DIR": str(folder / "data"), "TI_TUI_IMAGES": "off", "TERM": "xterm-256color"}
    command = " ".join([f"cd {folder} &&", sys.executable, "-m", "ti_tui", *arguments])
    subprocess.run(["tmux", "new-session", "-d", "-s", SESSION, "-x", "80", "-y", "24", command], env=environment, check=True)


def wizard_closed() -> bool:
    return subprocess.run(["tmux", "has-session", "-t", SESSION], capture_output=True).returncode != 0


@pytest.fixture
def photos(tmp_path):
    """The sample's ten photos, five of them without their caption, and one more photo to add on the way."""
    photos = tmp_path / "photos"
    shutil.copytree(SAMPLE_PROJECT / "images", photos)
    for name in UNCAPTIONED:
        (photos / f"{name}.txt").unlink()
    noise = np.random.default_rng(1).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "extra.png")
    yield photos
    subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
    if (tmp_path / "zorbot").is_dir():
        run_ti_tui("stop", str(tmp_path / "zorbot"))  # a run left training by a failure before its stop


def test_a_person_typing_on_a_busy_machine_takes_a_new_project_to_a_run_and_back(tmp_path, photos, busy_cores):
    originals = {path.name: path.read_bytes() for path in photos.iterdir()}
    open_wizard(tmp_path)
    wait_for("Recent projects")

    # A new project on builtin:tiny, from the folder of photos.
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
    keys("Tab", "Enter")  # what the images show: open the list, whose first line is the unanswered question
    wait_for("an object, a pet or a character")
    keys("Down", "Down", "Down", "Enter", "Tab")
    wait_for("The vectors start from 'object'.")  # the init words, proposed from the answer
    keys("Tab")
    type_text("wdnsdy")
    keys("Enter")
    wait_for("10 not prepared")
    project = tmp_path / "zorbot"
    created = tomllib.loads((project / "project.toml").read_text())

    # Images: one added, the portrait taken out, the rest prepared.
    keys("a")
    wait_for("Add the images")
    type_text(str(tmp_path / "extra.png"))
    keys("Enter")
    wait_for("11 not prepared")
    keys("End", "Up")
    wait_for("10-portrait.jpg, 704x896")  # the details beside the list name the image the cursor is on
    keys("x")
    wait_for("(1 left out)")
    keys("p")
    wait_for("All prepared.")

    # Captions: two added to, three written afresh, Enter between them.
    keys("2")
    wait_for("Caption of 01-hill")
    for caption in (" at dawn", " by the sea", "a robot at night", "a robot in a room", "a robot in a forest"):
        type_text(caption)
        keys("Enter")
    wait_for("Caption of 06-closeup")

    # Token: the trigger is read into pieces.
    leave_the_field()
    keys("3")
    wait_for("'wdnsdy' is read as")

    # Settings: a long run; the preset set to cosine while the rate is a piecewise one, then the rate mended.
    leave_the_field()
    keys("4")
    wait_for("█training.steps")  # the bar beside the setting the cursor is in
    keys("C-u")  # the cursor arrives at the end of training.steps
    type_text("100000")
    wait_for("█100000")
    keys("C-p")
    type_text("schedule.preset")
    wait_for("Setting: schedule.preset")
    keys("Enter")
    wait_for("piecewise | constant | cosine")
    keys("Enter")
    wait_until(lambda: ["constant"] in [line.split()[:1] for line in lines()], "the presets listed")
    keys("Down", "Down", "Enter")  # piecewise, constant, cosine
    wait_for("not saved: line")
    keys("Tab", "C-u")
    type_text("0.005")
    wait_for("falls along a cosine to 0 at step 100000")

    # Train: a run started, and the wizard quit while it trains.
    leave_the_field()
    keys("5")
    wait_for("Press t to start training")
    keys("t")
    wait_for("running, step")
    keys("C-q")
    deadline = time.monotonic() + 60
    while not wizard_closed() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert wizard_closed(), screen()

    # Reopened: the run went on; it is stopped from the Train step.
    open_wizard(tmp_path, "zorbot")
    wait_for("running, step")
    keys("x")
    wait_for("stopped on request")
    keys("C-q")

    settings = tomllib.loads((project / "project.toml").read_text())
    created["dataset"]["exclude"] = ["10-portrait.jpg"]
    created["training"]["steps"] = 100000
    created["schedule"].update(preset="cosine", learning_rate="0.005")
    assert settings == created

    captions = {path.stem: read_caption_file(path) for path in list_image_files(project / "prepared")}
    said = {name: read_caption_file(photos / f"{name}.jpg") for name in ("01-hill", "02-beach", "08-snow", "09-flowers")}
    assert captions == {
        "01-hill": said["01-hill"] + " at dawn",
        "02-beach": said["02-beach"] + " by the sea",
        "03-night": "a robot at night",
        "04-room": "a robot in a room",
        "05-forest": "a robot in a forest",
        "06-closeup": None,
        "07-city": None,
        "08-snow": said["08-snow"],
        "09-flowers": said["09-flowers"],
        "extra": None,
    }
    assert {path.name: path.read_bytes() for path in photos.iterdir() if path.name != "extra.png"} == originals

    (run,) = [RunDirectory(folder) for folder in (project / "runs").iterdir()]
    assert run_status(run).state == "stopped"

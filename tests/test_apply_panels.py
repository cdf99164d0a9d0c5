"""The Apply step's panels, and the helper process that renders its try-it: what the helper says, a JSON object a
line (what it is doing, each image it wrote, or what went wrong in the core's words), and the try-it panel
showing that as it comes: the progress, then the image, or the failure in words."""

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image
from textual.widgets import Static
from wizard_support import open_apply, record_notices, settle, until, until_notice

from ti_tui.errors import UserError
from ti_tui.findings import Fix
from ti_tui.tui.app import create_app
from ti_tui.tui.widgets.apply.try_it import TryPanel
from ti_tui.tui.widgets.picture import Picture
from ti_tui.usecases.generate_helper import GenerationProgress, generate_in_a_helper, read_line

SIZE = (100, 32)
HELPER = [sys.executable, "-m", "ti_tui.usecases.generate_helper"]
OTHER_FAMILY = "zorbot-4.safetensors has vectors of width 768 (SD 1.x), but this SD 2.x model needs width 1024: it was trained for another model family"
WAIT = 60  # seconds a stand-in helper waits for the test to let it go on: a safety net, not a measure


def ask_helper(request: dict) -> tuple[list[dict], int]:
    """Every line the helper wrote on its stdout, each read as JSON, and its exit code."""
    result = subprocess.run(HELPER, input=json.dumps(request) + "\n", capture_output=True, text=True, timeout=600)
    return [json.loads(line) for line in result.stdout.splitlines()], result.returncode


# The helper's protocol ----------------------------------------------------------------------------------


@pytest.mark.slow  # starts a helper process that renders on builtin:tiny
def test_the_helper_says_what_it_does_and_each_image_it_wrote_a_json_line_each(trained_sample, tiny_model_dir):
    lines, code = ask_helper({"project": str(trained_sample.root), "prompt": "a photo of [name]", "model": "", "count": 2})
    assert code == 0, lines
    wrote = [line["wrote"] for line in lines if "wrote" in line]
    assert lines == [
        {"doing": "loading", "image": 0, "of": 2},
        {"doing": "rendering", "image": 1, "of": 2},
        {"wrote": wrote[0]},
        {"doing": "rendering", "image": 2, "of": 2},
        {"wrote": wrote[1]},
    ]
    for number, path in enumerate(map(Path, wrote), start=1):
        assert path.parent == trained_sample.root / "generated" and path.name.endswith(f"-zorbot-s{number}.png")
        assert Image.open(path).size == (128, 128)


@pytest.mark.slow  # starts a helper process
def test_the_helper_says_a_missing_model_in_the_cores_words_as_its_only_line(trained_sample, tmp_path):
    missing = tmp_path / "missing.safetensors"
    lines, code = ask_helper({"project": str(trained_sample.root), "prompt": "a photo of [name]", "model": str(missing), "count": 1})
    assert code == 1
    [said] = lines
    assert said["fix"] is None and said["error"].startswith(f"the model {missing} does not exist")
    assert not (trained_sample.root / "generated").exists()


@pytest.mark.slow  # starts a helper process that renders on builtin:tiny
def test_the_wizard_side_hands_on_what_the_helper_is_doing_and_returns_the_image_it_wrote(trained_sample, tiny_model_dir):
    seen = []
    paths = generate_in_a_helper(trained_sample.root, "a photo of [name]", "", on_progress=seen.append)
    assert seen == [GenerationProgress("loading", 0, 1), GenerationProgress("rendering", 1, 1)]
    [path] = paths
    assert path.parent == trained_sample.root / "generated" and Image.open(path).size == (128, 128)


@pytest.mark.slow  # starts a helper process
def test_a_render_stopped_while_the_model_loads_returns_no_image(trained_sample, tiny_model_dir):
    stop = threading.Event()
    seen = []

    def said(progress: GenerationProgress) -> None:
        seen.append(progress)
        stop.set()

    assert generate_in_a_helper(trained_sample.root, "a photo of [name]", "", cancel=stop, on_progress=said) == []
    assert seen[0] == GenerationProgress("loading", 0, 1)


def test_each_kind_of_line_is_read_as_what_it_says_and_anything_else_is_refused():
    assert read_line('{"doing": "rendering", "image": 2, "of": 3}\n') == GenerationProgress("rendering", 2, 3)
    assert read_line('{"wrote": "/p/generated/a.png"}\n') == Path("/p/generated/a.png")
    with pytest.raises(UserError, match="^run 1 has no checkpoint$") as raised:
        read_line('{"error": "run 1 has no checkpoint", "fix": {"action": "train", "subject": ""}}\n')
    assert raised.value.fix == Fix("train")
    with pytest.raises(UserError, match="said something it should not have: 'Wrote /p/a.png'"):
        read_line("Wrote /p/a.png\n")


# The try-it panel -------------------------------------------------------------------------------------


def render_state(screen) -> str:
    return screen.query_one("#render-state", Static).render().plain


def image_path(screen) -> str:
    return screen.query_one("#image-path", Static).render().plain


async def test_the_try_panel_shows_what_the_helper_is_doing_then_the_image_it_wrote(trained_sample, services, tmp_path):
    image = tmp_path / "rendered.png"
    Image.new("RGB", (16, 16), (200, 60, 60)).save(image)
    loaded, drawn = threading.Event(), threading.Event()

    def generate(project_root, prompt, model="", cancel=None, on_progress=None):  # says what the helper says
        on_progress(GenerationProgress("loading", 0, 1))
        loaded.wait(WAIT)
        on_progress(GenerationProgress("rendering", 1, 1))
        drawn.wait(WAIT)
        return [image]

    services.generate = generate
    app = create_app(trained_sample, services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_apply(app, pilot)
        panel = screen.query_one(TryPanel)
        await pilot.press("t")
        await until(pilot, lambda: "Loading" in render_state(screen), "the loading said")
        working, doing = render_state(screen).splitlines()
        assert working.startswith("Rendering on the project's model, builtin:tiny (") and working.endswith(" s; x stops it)...")
        assert doing == "Loading the model..."
        keys = screen.active_bindings
        assert keys["x"].enabled and not keys["t"].enabled  # one render at a time; x stops it

        loaded.set()
        await until(pilot, lambda: "Drawing" in render_state(screen), "the drawing said")
        assert render_state(screen).splitlines()[1] == "Drawing image 1 of 1..."
        assert image_path(screen) == ""

        drawn.set()
        await until(pilot, lambda: panel.query_one(Picture).path == image, "the image shown")
        assert render_state(screen) == "Step 4 on the project's model, builtin:tiny, seed 1:"
        assert image_path(screen).splitlines()[0] == str(image)
        keys = screen.active_bindings
        assert keys["t"].enabled and "x" not in keys


async def test_the_try_panel_says_the_helpers_failure_in_its_words_in_place_of_its_progress(trained_sample, services):
    loaded = threading.Event()

    def generate(project_root, prompt, model="", cancel=None, on_progress=None):
        on_progress(GenerationProgress("loading", 0, 1))
        loaded.wait(WAIT)
        raise UserError(OTHER_FAMILY)

    services.generate = generate
    app = create_app(trained_sample, services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_apply(app, pilot)
        await pilot.press("t")
        await until(pilot, lambda: "Loading the model..." in render_state(screen), "the loading said")
        loaded.set()
        await until(pilot, lambda: screen.query_one("#render-state").has_class("-problem"), "the failure")
        assert render_state(screen) == OTHER_FAMILY + "."
        assert image_path(screen) == "" and screen.query_one(Picture).path is None
        assert screen.active_bindings["t"].enabled


async def test_what_a_stopped_render_says_late_is_not_shown(trained_sample, services):
    started, said_late = threading.Event(), threading.Event()

    def generate(project_root, prompt, model="", cancel=None, on_progress=None):
        started.set()
        cancel.wait(WAIT)
        on_progress(GenerationProgress("rendering", 1, 1))  # a line read before the helper ended
        said_late.set()
        return []

    services.generate = generate
    app = create_app(trained_sample, services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_apply(app, pilot)
        await pilot.press("t")
        await until(pilot, started.is_set, "the render started")
        await pilot.press("x")
        await until(pilot, said_late.is_set, "the late line said")
        await settle(app, pilot)
        assert render_state(screen) == "Stopped; t renders again."


async def test_a_render_that_fails_in_a_way_nobody_foresaw_is_said_and_t_renders_again(trained_sample, services):
    asked = []

    def generate(project_root, prompt, model="", cancel=None, on_progress=None):
        asked.append(prompt)
        if len(asked) == 1:
            raise RuntimeError("a bug in the renderer")
        return []

    services.generate = generate
    app = create_app(trained_sample, services)
    said = record_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_apply(app, pilot)
        await pilot.press("t")
        assert "a bug in the renderer" in await until_notice(pilot, said, "Something went wrong")
        await settle(app, pilot)
        assert render_state(screen) == "The render failed; t tries again."
        await pilot.press("t")
        await until(pilot, lambda: len(asked) == 2, "a second render, once the first failed", timeout=WAIT)


async def test_an_export_that_fails_in_a_way_nobody_foresaw_is_said_and_e_exports_again(trained_sample, services, monkeypatch):
    from ti_tui.usecases import export

    tries = []

    def export_checkpoint(project, **options):
        tries.append(options)
        raise RuntimeError("a bug in the export")

    monkeypatch.setattr(export, "export_checkpoint", export_checkpoint)
    app = create_app(trained_sample, services)
    said = record_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await open_apply(app, pilot)
        await pilot.press("e")
        assert "a bug in the export" in await until_notice(pilot, said, "Something went wrong")
        await settle(app, pilot)
        await pilot.press("e")
        await until(pilot, lambda: len(tries) == 2, "a second export, once the first failed", timeout=WAIT)

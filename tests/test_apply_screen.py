"""The Apply step: the checkpoint it exports, the target folder recognised as it is typed and explained before
anything is written, the export (never replacing a file unasked), the word tried on a model in a helper
process, and what to type in each UI. Runs and checkpoints are made without training."""

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from installations import comfyui
from PIL import Image
from run_recording import recorded_run
from textual.widgets import Checkbox, Input
from wizard_support import copy_of_sample, fake_services, open_apply, record_notices, settle, shown, until, write_checkpoints

from ti_tui.embedding.files import read_embedding
from ti_tui.errors import UserError
from ti_tui.project import Project
from ti_tui.tui.app import create_app
from ti_tui.tui.screens.dialogs import Confirm
from ti_tui.tui.services import generate_in_a_helper
from ti_tui.tui.widgets.picture import Picture
from ti_tui.usecases.training import create_run

SIZE = (100, 32)
OTHER_FAMILY = "zorbot-4.safetensors has vectors of width 768 (SD 1.x), but this SD 2.x model needs width 1024: it was trained for another model family"


@pytest.fixture
def trained(tmp_path, monkeypatch):
    """A copy of the sample with one run of 4 steps that saved checkpoints at steps 2 and 4, without training."""
    monkeypatch.setenv("TI_TUI_IMAGES", "off")
    project = Project.open(copy_of_sample(tmp_path / "project"))
    project.update({"preview.every": 0})
    run = create_run(project, steps=4)
    write_checkpoints(run)
    return project, run


async def test_the_checkpoint_and_the_default_folder_are_explained_before_anything_is_written(trained, services):
    project, run = trained
    app = create_app(project, services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_apply(app, pilot)
        await until(pilot, lambda: "Writes" in shown(screen, "#target-files"), "the plan")
        assert shown(screen, "#checkpoint") == f"Step 4 of run {run.id}, the last; Compare (6) chooses another."
        assert Path(screen.query_one("#target", Input).value).expanduser() == project.exports_dir
        assert shown(screen, "#target-words").startswith("A new folder, not a UI's installation")
        assert shown(screen, "#target-files") == "Writes zorbot.safetensors in it."
        usage = shown(screen, "#usage")
        for line in ("web UI, Forge, SD.Next: zorbot", "ComfyUI: embedding:zorbot", "InvokeAI: <zorbot>", 'token="zorbot"'):
            assert line in usage
        assert screen.query_one("#prompt", Input).value == project.settings.xy.prompt
        assert "t renders the prompt with [xy]'s seed 1, 20 steps, CFG 7." in shown(screen, "#render-state")
    assert not project.exports_dir.exists()


async def test_a_comfyui_installation_typed_is_recognised_and_the_export_lands_in_its_embeddings_folder(trained, services, tmp_path):
    project, run = trained
    installation = comfyui(tmp_path / "ComfyUI")
    landed = installation / "models/embeddings/zorbot.safetensors"
    app = create_app(project, services)
    said = record_notices(app)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_apply(app, pilot)
        target = screen.query_one("#target", Input)
        target.focus()
        target.value = f"{installation.parent}/"
        await pilot.press(*installation.name)  # typed as a user types, the plan following
        await until(pilot, lambda: shown(screen, "#target-words").startswith("A ComfyUI installation"), "ComfyUI recognised")
        assert "the file goes into models/embeddings" in shown(screen, "#target-words")
        assert shown(screen, "#target-files") == "Writes models/embeddings/zorbot.safetensors in it."
        assert shown(screen, "#usage") == "In ComfyUI, type embedding:zorbot"
        assert not landed.exists()

        await pilot.press("escape", "e")
        await until(pilot, landed.exists, "the export written")
        await until(pilot, lambda: any(f"Wrote {landed}" in notice for notice in said), "the export told")
        assert "In ComfyUI, type embedding:zorbot" in said[-1]
        exported = read_embedding(landed).embedding
        assert exported.trigger == "zorbot" and exported.step == 4
        # The folder is kept for the next time, and for `ti-tui export`: recognised again from its embeddings folder.
        assert Project.open(project.root).settings.export.folder == str(installation / "models/embeddings")
        await until(pilot, lambda: shown(screen, "#target-files") == "Wrote models/embeddings/zorbot.safetensors in it.", "the plan again")

        # Again: the file is there, so the user is asked; no keeps it, yes replaces it.
        landed.write_bytes(b"not an embedding")
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, Confirm), "the question")
        assert str(landed) in app.screen.question and f"step 4 of run {run.id}" in app.screen.question
        await pilot.press("escape")
        await until(pilot, lambda: any("Nothing was written" in notice for notice in said), "no written")
        assert landed.read_bytes() == b"not an embedding"
        replaced = "Replaces models/embeddings/zorbot.safetensors in it (e asks first)."
        await until(pilot, lambda: shown(screen, "#target-files") == replaced, "the plan of the file as it is now, not as written")
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, Confirm), "the question again")
        await pilot.press("y")
        await until(pilot, lambda: landed.read_bytes() != b"not an embedding", "the file replaced")
        await settle(app, pilot)
        assert read_embedding(landed).embedding.step == 4


async def test_a_file_typed_as_the_target_is_explained_and_nothing_is_written(trained, services, tmp_path):
    project, _ = trained
    (tmp_path / "notes.txt").write_text("mine")
    app = create_app(project, services)
    said = record_notices(app)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_apply(app, pilot)
        screen.query_one("#target", Input).value = str(tmp_path / "notes.txt")
        await until(pilot, lambda: "is a file" in shown(screen, "#target-words"), "the problem in words")
        assert screen.query_one("#target-words").has_class("-problem")
        assert shown(screen, "#target-files") == ""
        await pilot.press("e")
        await until(pilot, lambda: any("is a file" in notice for notice in said), "the export refused")
    assert (tmp_path / "notes.txt").read_text() == "mine"


async def test_a_symbolic_link_loop_typed_as_the_target_is_said_at_the_field(trained, services, tmp_path):
    project, _ = trained
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    app = create_app(project, services)
    said = record_notices(app)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_apply(app, pilot)
        screen.query_one("#target", Input).value = str(loop)
        await until(pilot, lambda: "symbolic-link loop" in shown(screen, "#target-words"), "the loop in words")
        assert f"{loop} is a symbolic-link loop" in shown(screen, "#target-words")
        assert screen.query_one("#target-words").has_class("-problem")
        assert not any("Something went wrong" in notice for notice in said)


async def test_formats_ticked_are_saved_and_planned_and_one_is_always_kept(trained, services):
    project, _ = trained
    app = create_app(project, services)
    said = record_notices(app)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_apply(app, pilot)
        screen.query_one("#format-pt", Checkbox).value = True
        await until(pilot, lambda: "zorbot.pt" in shown(screen, "#target-files"), "two files planned")
        assert shown(screen, "#target-files") == "Writes zorbot.safetensors in it.\nWrites zorbot.pt in it."
        assert Project.open(project.root).settings.export.formats == ["safetensors", "pt"]
        screen.query_one("#format-safetensors", Checkbox).value = False
        await until(pilot, lambda: shown(screen, "#target-files") == "Writes zorbot.pt in it.", "the .pt alone")
        screen.query_one("#format-pt", Checkbox).value = False
        await settle(app, pilot)
        assert screen.query_one("#format-pt", Checkbox).value  # ticked again: something must be written
        assert any("One format at least" in notice for notice in said)
    assert Project.open(project.root).settings.export.formats == ["pt"]


async def test_the_checkpoint_chosen_in_compare_is_the_one_named(trained, services):
    project, run = trained
    project.update({"export.run": run.id, "export.step": 2})
    app = create_app(project, services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_apply(app, pilot)
        await until(pilot, lambda: "chosen in Compare" in shown(screen, "#checkpoint"), "the chosen step")
        assert shown(screen, "#checkpoint") == f"Step 2 of run {run.id}, chosen in Compare."
        project.update({"export.step": 3})  # gone, or never saved
        app.refresh_state()
        await until(pilot, lambda: "No checkpoint to use" in shown(screen, "#checkpoint"), "the missing step said")
        assert shown(screen, "#checkpoint") == (
            f"No checkpoint to use: run {run.id} has no checkpoint at step 3; it has 2, 4. Train (5) makes them; Compare (6) chooses one."
        )


async def test_with_no_runs_the_screen_says_to_train_first(tmp_path, services, monkeypatch):
    monkeypatch.setenv("TI_TUI_IMAGES", "off")
    project = Project.open(copy_of_sample(tmp_path / "project"))
    asked = []
    services.generate = lambda *arguments, **keywords: asked.append(arguments) or []
    app = create_app(project, services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_apply(app, pilot)
        assert screen.has_checkpoint is False
        text = shown(screen, "#checkpoint")
        assert text == "No runs yet, so nothing to export or try. Train first (5 opens Train); then export and try it here."
        assert "Nothing to try yet" in shown(screen, "#render-state")
        await pilot.press("e", "t")
        screen.query_one("#prompt", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is screen
    assert not project.exports_dir.exists() and asked == []


async def test_trying_the_word_shows_the_image_and_its_path_and_a_failure_in_words(trained, services, tmp_path):
    project, _ = trained
    image = tmp_path / "rendered.png"
    Image.new("RGB", (16, 16), (200, 60, 60)).save(image)
    calls = []

    def generate(project_root, prompt, model="", cancel=None, on_progress=None):
        calls.append((project_root, prompt, model))
        if model.endswith("sd2.safetensors"):
            raise UserError(OTHER_FAMILY)
        return [image]

    services.generate = generate
    app = create_app(project, services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_apply(app, pilot)
        screen.query_one("#prompt", Input).value = "[name] on the moon"
        await pilot.press("t")
        await until(pilot, lambda: shown(screen, "#image-path").startswith(str(image)), "the image's path")
        assert shown(screen, "#image-path") == f"{image}\nbuiltin:tiny has random weights: it makes noise, not pictures."
        assert calls == [(project.root, "[name] on the moon", "")]
        assert shown(screen, "#render-state") == "Step 4 on the project's model, builtin:tiny, seed 1:"
        assert screen.query_one("#picture", Picture).path == image

        model = screen.query_one("#model", Input)
        model.value = str(tmp_path / "sd2.safetensors")
        model.focus()
        await pilot.press("enter")  # enter in the model's field renders, as t does
        await until(pilot, lambda: "needs width 1024" in shown(screen, "#render-state"), "the failure in words")
        assert shown(screen, "#render-state") == OTHER_FAMILY + "."
        assert screen.query_one("#render-state").has_class("-problem")
    # The model tried is offered again next time.
    again = create_app(project, fake_services(services.memory.path.parent))
    async with again.run_test(size=SIZE) as pilot:
        screen = await open_apply(again, pilot)
        assert screen.query_one("#model", Input).value == str(tmp_path / "sd2.safetensors")


async def test_rendering_can_be_stopped_and_stops_when_the_step_is_left(trained, services):
    project, _ = trained
    started, stopped = threading.Event(), threading.Event()

    def generate(project_root, prompt, model="", cancel=None, on_progress=None):
        started.set()
        cancel.wait(20)
        stopped.set()
        return []

    services.generate = generate
    app = create_app(project, services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_apply(app, pilot)
        await pilot.press("t")
        await until(pilot, started.is_set, "the render started")
        assert shown(screen, "#render-state").startswith("Rendering on the project's model, builtin:tiny (")
        assert app.screen.active_bindings["x"].enabled
        await pilot.press("x")
        await until(pilot, stopped.is_set, "the render stopped")
        assert shown(screen, "#render-state") == "Stopped; t renders again."
        await settle(app, pilot)
        assert shown(screen, "#render-state") == "Stopped; t renders again."  # a new look at the project leaves it

        started.clear(), stopped.clear()
        await pilot.press("t")
        await until(pilot, started.is_set, "a second render started")
        await pilot.press("1")  # to Images: the helper process ends with the screen
        await until(pilot, stopped.is_set, "the render stopped with the screen")


@pytest.mark.slow  # starts a trainer or helper process
def test_the_helper_says_the_commands_own_words_for_a_missing_model(trained, tmp_path):
    project, _ = trained
    with pytest.raises(UserError, match=r"^the model .*missing\.safetensors does not exist"):
        generate_in_a_helper(project.root, "a photo of [name]", str(tmp_path / "missing.safetensors"))


@pytest.mark.slow
async def test_an_image_is_rendered_by_the_real_command_and_its_path_shown(trained, tmp_path, tiny_model_dir):
    project, _ = trained
    app = create_app(project, fake_services(tmp_path / "data"))  # the real generate: a `ti-tui generate` process
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_apply(app, pilot)
        await pilot.press("t")
        await until(pilot, lambda: shown(screen, "#image-path") or screen.query_one("#try-side").rendering is None, "the render ended")
        assert not screen.query_one("#render-state").has_class("-problem"), shown(screen, "#render-state")
        path = Path(shown(screen, "#image-path").splitlines()[0])
        assert path.parent == project.root / "generated" and path.name.endswith("-zorbot-s1.png")
        assert Image.open(path).size == (128, 128)
        assert screen.query_one("#picture", Picture).path == path


def test_painting_apply_imports_no_model_library(trained):
    project, _ = trained
    script = f"""
import asyncio, sys
from ti_tui.project import Project
from ti_tui.tui.app import create_app

async def main():
    app = create_app(Project.open({str(project.root)!r}))
    async with app.run_test() as pilot:
        await pilot.pause()
        app.open_step("apply")
        while True:  # the outer timeout bounds it
            await pilot.pause(0.05)
            await app.workers.wait_for_complete()
            if "Writes" in str(app.screen.query_one("#target-files").render()):
                break
        assert type(app.screen).__name__ == "ApplyScreen"
    print(sorted(name for name in ("torch", "diffusers", "transformers", "accelerate") if name in sys.modules))

asyncio.run(main())
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# Snapshots --------------------------------------------------------------------------------------------

pytestmark = pytest.mark.xdist_group("apply-snapshots")  # one worker takes the module's snapshots: its projects are made once
SNAPSHOT_SIZES = [(80, 24), pytest.param((120, 36), marks=pytest.mark.slow)]  # the quick tier looks at 80x24


@pytest.fixture(scope="module")
def fixed_project(snapshot_home):
    """The sample in the home folder with a recorded run of 4 steps (checkpoints at 2 and 4), a ComfyUI and an image."""
    project = Project.open(copy_of_sample(snapshot_home / "project"))
    run = recorded_run(project, "20260101-000000-zorbot", 4, 4, every=2)
    write_checkpoints(run)
    comfyui(snapshot_home / "ComfyUI")
    image = Image.new("RGB", (64, 64), (240, 240, 240))
    image.paste((200, 90, 60), (16, 16, 48, 48))
    image.save(snapshot_home / "rendered.png")
    return project


@pytest.mark.parametrize("size", SNAPSHOT_SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
@pytest.mark.parametrize("moment", ["arrived", "tried"])
def test_the_apply_step_looks_as_it_did(snap_compare, fixed_project, half_blocks, moment, size):
    """On arrival: the project's export folder; tried: a ComfyUI typed as the target and an image rendered."""
    home = fixed_project.root.parent
    services = fake_services(home / f"data-{moment}-{size[0]}", generate=lambda *arguments, **keywords: [home / "rendered.png"])
    app = create_app(Project.open(fixed_project.root), services)

    async def arrive(pilot) -> None:
        screen = await open_apply(app, pilot)
        if moment == "tried":
            screen.query_one("#target", Input).value = "~/ComfyUI"
            await until(pilot, lambda: shown(screen, "#target-words").startswith("A ComfyUI"), "ComfyUI recognised")
            await pilot.press("t")
            await until(pilot, lambda: screen.query_one("#picture", Picture).query(".picture").first().image is not None, "the picture")
        else:
            await until(pilot, lambda: "Writes" in shown(screen, "#target-files"), "the plan")
        await settle(app, pilot)

    assert snap_compare(app, terminal_size=size, run_before=arrive)


async def test_apply_warns_when_the_checkpoint_it_would_export_is_likely_over_trained(sample, services):
    write_checkpoints(recorded_run(sample, "20260101-000000-zorbot", 300, 300, growth=4.0), steps=(100, 300))  # 3x from step 150
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_apply(app, pilot)
        await until(pilot, lambda: "likely over-trained" in shown(screen, "#usage"), "the warning")
        assert "! Step 300 of run 20260101-000000-zorbot is likely over-trained" in shown(screen, "#usage")
        assert "Step 100 is suggested" in shown(screen, "#usage")

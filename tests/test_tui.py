"""The wizard's shell: where a project opens, what it remembers, how it saves and refuses, the keys, and
how it keeps going when something fails."""

import subprocess
import sys

import pytest
from conftest import SAMPLE_PROJECT
from textual.widgets import DataTable, Input, Static
from wizard_support import copy_of_sample, fake_services, settle

from ti_tui.dataset.checks import DatasetReport
from ti_tui.findings import Finding, Fix
from ti_tui.project import Project, create_project
from ti_tui.tui.app import create_app
from ti_tui.tui.commands import StepCommands
from ti_tui.tui.screens.captions import CaptionsScreen
from ti_tui.tui.screens.compare import CompareScreen
from ti_tui.tui.screens.images import ImagesScreen
from ti_tui.tui.screens.settings import SettingsScreen
from ti_tui.tui.screens.start import StartScreen
from ti_tui.tui.screens.train import TrainScreen
from ti_tui.tui.widgets.guidance import Guidance
from ti_tui.tui.widgets.setting_field import SettingField
from ti_tui.usecases.images import prepare_project
from ti_tui.usecases.recent import Memory
from ti_tui.usecases.summary import summarize_project

SIZE = (100, 32)


def screen_text(app) -> str:
    """Everything the screen shows in its text widgets, as the user reads it."""
    shown = (widget.render() for widget in app.screen.query(Static) if widget.display)
    return "\n".join(getattr(rendered, "plain", str(rendered)) for rendered in shown)


@pytest.fixture
def sample(tmp_path, monkeypatch):
    monkeypatch.setenv("TI_TUI_IMAGES", "off")
    return Project.open(copy_of_sample(tmp_path / "sample"))


@pytest.fixture
def services(tmp_path):
    return fake_services(tmp_path / "data")


@pytest.mark.slow
async def test_a_project_reopens_on_the_step_it_was_left_on(sample, services):
    services.memory.remember(sample.root, "settings")
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, SettingsScreen)
        await pilot.press("6")
        await settle(app, pilot)
        assert isinstance(app.screen, CompareScreen) and "No grid yet" in screen_text(app)
    assert Memory(services.memory.path.parent).last_step(sample.root) == "compare"


async def test_a_project_with_a_run_at_work_opens_on_train(sample, services, monkeypatch):
    monkeypatch.setattr("ti_tui.usecases.journey.has_active_run", lambda project: True)
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, TrainScreen)


async def test_the_start_screen_marks_a_project_that_is_gone(tmp_path, services):
    services.memory.remember(tmp_path / "moved-away", "images")
    app = create_app(None, services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, StartScreen)
        listed = app.screen.query_one("#recent").get_option_at_index(0).prompt
        assert "(missing: " in str(listed)


async def test_a_step_that_cannot_work_yet_says_which_step_comes_first(sample, services):
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.open_step("captions")
        await settle(app, pilot)
        assert isinstance(app.screen, CaptionsScreen)
        assert "No prepared images yet: prepare them on the Images step" in screen_text(app)


async def test_guidance_folded_away_stays_folded(sample, services):
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("g")
        assert app.screen.query_one(Guidance).folded
    again = create_app(sample, fake_services(services.memory.path.parent))
    async with again.run_test(size=SIZE) as pilot:
        await settle(again, pilot)
        assert again.screen.query_one(Guidance).folded and "g shows it" in screen_text(again)


async def test_a_bad_value_is_shown_at_its_field_in_doctors_words_and_not_saved(sample, services):
    before = sample.store.path.read_text()
    services.memory.remember(sample.root, "settings")
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        field = app.screen.query_one("#training-steps", SettingField)
        field.query_one(Input).value = "-5"
        field.save()
        note = field.query_one(".setting-note", Static).render().plain
        assert note == "line 30, training.steps = -5: should be at least 1 (optimisation steps in this run)"
        field.query_one(Input).value = "many"
        field.save()
        assert "training.steps = 'many': should be a whole number" in field.query_one(".setting-note", Static).render().plain
    assert sample.store.path.read_text() == before


async def test_an_edit_made_in_another_program_is_noticed_and_never_overwritten(sample, services):
    services.memory.remember(sample.root, "settings")
    app = create_app(sample, services)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(app, pilot)
        path = sample.store.path
        path.write_text(path.read_text().replace("steps = 300 ", "steps = 750 "))
        app.notice_edits_elsewhere()
        assert app.file_changed_elsewhere
        batch = app.screen.query_one("#training-batch_size", SettingField)
        batch.query_one(Input).value = "2"
        batch.save()
        assert "steps = 750 " in path.read_text() and "batch_size = 1 " in path.read_text()  # refused, nothing lost
        await pilot.press("escape", "r")
        await settle(app, pilot)
        assert app.screen.query_one("#training-steps", SettingField).value == "750"
        path.write_text(path.read_text().replace("steps = 750 ", "steps = -1 "))
        await pilot.press("r")
        await settle(app, pilot)
        assert any("training.steps = -1: should be at least 1" in str(note.message) for note in app._notifications)
        assert app.project.settings.training.steps == 750  # the last good settings stay


async def test_problems_from_the_core_are_shown_on_the_step_that_fixes_them(sample, services):
    def summarize_with_a_problem(project):
        summary = summarize_project(project)
        problem = Finding("error", "The model: it is on fire.", fix=Fix("fetch"), check="model")
        return type(summary)(**{**summary.__dict__, "problems": [problem], "fetchable": True})

    services.summarize = summarize_with_a_problem
    services.memory.remember(sample.root, "settings")
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "! The model: it is on fire." in screen_text(app)
        descriptions = {binding.description for _, binding, enabled, _ in app.active_bindings.values() if enabled}
        assert "Fetch what is missing" in descriptions
        await pilot.press("1")
        await settle(app, pilot)
        assert "on fire" not in screen_text(app)


async def test_user_text_is_shown_literally_not_as_markup(sample, services):
    (sample.images_dir / "[bold]odd.jpg").write_bytes((sample.images_dir / "01-hill.jpg").read_bytes())
    prepare_project(sample)
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        names = [str(app.screen.query_one("#images", DataTable).get_row_at(index)[0]) for index in range(11)]
        assert "[bold]odd.jpg" in names
        app.open_step("captions")
        await settle(app, pilot)
        caption = app.screen.query_one("#caption", Input)
        caption.value = "a [red]robot[/red] on a hill"
        await pilot.pause()
        assert "a [red]robot[/red] on a hill" in screen_text(app)


async def test_the_palette_lists_every_step_and_the_screens_actions(sample, services):
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, ImagesScreen)
        provider = StepCommands(app.screen)
        titles = [title for title, _, _ in provider.commands()]
        assert titles[:7] == [
            "Go to: Images",
            "Go to: Captions",
            "Go to: Token",
            "Go to: Settings",
            "Go to: Train",
            "Go to: Compare",
            "Go to: Apply",
        ]
        assert {"Add images", "Take out / put back", "Prepare"} <= set(titles)
        await pilot.press("question_mark")
        await settle(app, pilot)
        assert app.screen.query("HelpPanel")


async def test_work_that_fails_is_said_on_the_screen_and_the_wizard_goes_on(sample, services):
    def broken_checks(project) -> DatasetReport:
        raise RuntimeError("the checks fell over")

    services.check_images = broken_checks
    app = create_app(sample, services)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(app, pilot)
        assert any("RuntimeError: the checks fell over" in str(note.message) for note in app._notifications)
        await pilot.press("3")
        await settle(app, pilot)
        assert app.screen.STEP == "token"


async def test_captions_written_by_a_model_for_the_images_without_one(sample, services, tmp_path):
    prepare_project(sample)
    for caption in sample.prepared_dir.glob("0[12]-*.txt"):
        caption.unlink()
    model = tmp_path / "blip"
    model.mkdir()
    services.memory.remember(sample.root, "captions")
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("a")
        await settle(app, pilot)
        app.screen.query_one("#path", Input).value = str(model)
        await pilot.press("enter")
        await settle(app, pilot)
        captions = {path.name: path.read_text().strip() for path in sample.prepared_dir.glob("*.txt")}
        assert captions["01-hill.txt"] == captions["02-beach.txt"] == "a drawing in bright colours"
        assert sum(text == "a drawing in bright colours" for text in captions.values()) == 2  # the others kept theirs
    assert services.memory.value("captioner") == str(model)


@pytest.mark.parametrize("model", ["builtin:tiny", "org/some-model", "model.safetensors"])
def test_painting_the_first_screen_imports_no_model_library(tmp_path, model):
    (tmp_path / "model.safetensors").write_bytes(b"")
    project = create_project(tmp_path / "p", token="wdnsdy", model=str(tmp_path / model) if "." in model else model)
    script = f"""
import asyncio, sys
from ti_tui.project import Project
from ti_tui.tui.app import create_app

async def main():
    app = create_app(Project.open({str(project.root)!r}))
    async with app.run_test() as pilot:
        for _ in range(3):
            await pilot.pause()
            await app.workers.wait_for_complete()
        assert type(app.screen).__name__ == "ImagesScreen"
    print(sorted(name for name in ("torch", "diffusers", "transformers", "accelerate") if name in sys.modules))

asyncio.run(main())
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_wizard_opens_from_the_command_line_on_the_sample_project(tmp_path):
    script = (
        "import sys, textual.app\n"
        "textual.app.App.run = lambda self: print(type(self).__name__, self.project.name)\n"
        "from ti_tui.cli import main\n"
        f"sys.exit(main([{str(SAMPLE_PROJECT)!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "WizardApp sample_project"

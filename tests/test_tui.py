"""The wizard's shell: where a project opens, what it remembers, how it saves and refuses, the keys, and
how it keeps going when something fails."""

import asyncio
import os
import subprocess
import sys

import pytest
from conftest import SAMPLE_PROJECT
from textual.message import Message
from textual.widgets import DataTable, Input, Static
from wizard_support import fake_services, record_notices, screen_text, settle

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
from ti_tui.tui.screens.step import StepScreen
from ti_tui.tui.screens.train import TrainScreen
from ti_tui.tui.widgets import setting_field
from ti_tui.tui.widgets.guidance import Guidance
from ti_tui.tui.widgets.rate_plot import RatePlot
from ti_tui.tui.widgets.setting_field import SettingField
from ti_tui.usecases.images import prepare_project
from ti_tui.usecases.recent import Memory
from ti_tui.usecases.summary import summarize_project

SIZE = (100, 32)


@pytest.mark.slow
async def test_a_project_reopens_on_the_step_it_was_left_on(sample, services):
    services.memory.remember(sample.root, "settings")
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, SettingsScreen)
        await pilot.press("escape", "6")  # out of the first setting, where a digit is typed
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
        assert note == "not saved: line 30, training.steps = -5: should be at least 1 (optimisation steps in this run)"
        field.query_one(Input).value = "many"
        field.save()
        assert "training.steps = 'many': should be a whole number" in field.query_one(".setting-note", Static).render().plain
    assert sample.store.path.read_text() == before


async def test_a_step_count_too_large_to_draw_is_said_at_its_field_and_the_curve_is_left_as_it_was(sample, services):
    services.memory.remember(sample.root, "settings")
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        drawn = app.screen.query_one(RatePlot).points
        field = app.screen.query_one("#training-steps", SettingField)
        field.query_one(Input).value = "100000000000000000000"  # more than 2**64
        await settle(app, pilot)
        note = field.query_one(".setting-note", Static)
        assert "training.steps = 100000000000000000000: should be at most 1000000" in note.render().plain
        assert note.has_class("-problem")
        assert app.screen.query_one(RatePlot).points == drawn
        assert app.is_running
    assert Project.open(sample.root).settings.training.steps == 300


async def test_the_learning_rate_in_words_stays_under_its_field_once_the_typing_is_saved(sample, services):
    services.memory.remember(sample.root, "settings")
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        field = app.screen.query_one("#schedule-learning_rate", SettingField)
        field.query_one(Input).value = "0.004"
        await settle(app, pilot)
        in_words = field.query_one(".setting-note", Static).render().plain
        field.save()
        await settle(app, pilot)
        assert field.query_one(".setting-note", Static).render().plain == in_words
        assert "0.004" in in_words and in_words != field.info.description
    assert Project.open(sample.root).settings.schedule.learning_rate == "0.004"


class Faulty(Static):
    """A widget with a bug: it raises when poked."""

    class Poke(Message):
        pass

    def on_faulty_poke(self) -> None:
        raise RuntimeError("a widget made to raise")


def raising_once(original):
    """`original`, except that its first call raises, as a bug that one input sets off."""
    calls = []

    def call(*arguments, **keywords):
        calls.append(arguments)
        if len(calls) == 1:
            raise RuntimeError("a widget made to raise")
        return original(*arguments, **keywords)

    return call


async def until_replaced(app, screen) -> None:
    """Until `screen`, stopped by an error, is replaced. A pilot's pause cannot wait for this: it waits for
    every widget on the screen to answer, and the one that raised never does."""
    for _ in range(30000):
        if app.screen is not screen:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{screen} was never replaced")


async def set_off(where: str, app, pilot, monkeypatch) -> None:
    screen = app.screen
    if where == "in a widget's own handler":
        faulty = Faulty("")
        await screen.query_one("#body").mount(faulty)
        faulty.post_message(Faulty.Poke())
        await until_replaced(app, screen)
    elif where == "in the screen's handler":
        monkeypatch.setattr(RatePlot, "show", raising_once(RatePlot.show))
        screen.query_one("#schedule-learning_rate", SettingField).query_one(Input).value = "0.004"
        await until_replaced(app, screen)
    else:  # in the action of a key: the app's own loop, which goes on with the same screen
        monkeypatch.setattr(StepScreen, "action_fold_guidance", raising_once(StepScreen.action_fold_guidance))
        await pilot.press("escape", "g")


@pytest.mark.parametrize("where", ["in a widget's own handler", "in the screen's handler", "in the action of a key"])
async def test_an_error_nobody_foresaw_leaves_the_edits_saved_and_the_wizard_going_with_a_notice(sample, services, monkeypatch, where):
    monkeypatch.setattr(setting_field, "SAVE_AFTER_SECONDS", 3600)  # only the wizard's own saving writes the typing
    services.memory.remember(sample.root, "settings")
    app = create_app(sample, services)
    said = record_notices(app)
    seen = {}
    with pytest.raises(RuntimeError, match="a widget made to raise"):  # handed on at the end, so no test passes over one
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await settle(app, pilot)
            app.screen.query_one("#training-seed", SettingField).query_one(Input).value = "77"
            await set_off(where, app, pilot, monkeypatch)
            await settle(app, pilot)
            seen["running"] = app.is_running and app.return_code is None
            seen["seed saved"] = Project.open(sample.root).settings.training.seed
            seen["notices"] = list(said)
            seen["screen"] = type(app.screen).__name__
            await pilot.press("escape", "3")
            await settle(app, pilot)
            seen["after 3"] = type(app.screen).__name__
    notice = next((notice for notice in seen.get("notices", []) if "(RuntimeError: a widget made to raise)" in notice), "")
    assert "What you typed is saved" in notice, seen
    assert seen == {**seen, "running": True, "seed saved": 77, "screen": "SettingsScreen", "after 3": "TokenScreen"}


def test_a_screen_that_fails_again_when_opened_afresh_ends_the_wizard_with_a_message_and_status_1(sample, tmp_path):
    Memory(tmp_path / "data").remember(sample.root, "settings")
    script = (
        "import sys, textual.app\n"
        "from ti_tui.tui.screens.settings import SettingsScreen\n"
        "def broken(self):\n"
        "    raise RuntimeError('a screen made to raise')\n"
        "SettingsScreen.on_mount = broken\n"
        "run = textual.app.App.run\n"
        "textual.app.App.run = lambda self: run(self, headless=True)\n"
        "from ti_tui.cli import main\n"
        f"sys.exit(main([{str(sample.root)!r}]))\n"
    )
    environment = {**os.environ, "TI_TUI_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=environment)
    assert result.returncode == 1, result.stderr
    said = result.stderr.replace("\n", "")  # as the terminal wrapped it
    assert "(RuntimeError: a screen made to raise)" in said and "Traceback" not in said
    report = tmp_path / "data" / "last-error.txt"
    assert "Traceback" in report.read_text() and str(report) in said


async def test_a_symbolic_link_loop_typed_as_the_new_projects_folder_is_said_at_the_field(tmp_path, services):
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    app = create_app(None, services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("n")
        await settle(app, pilot)
        app.screen.query_one("#folder", Input).value = str(loop)
        await settle(app, pilot)
        note = app.screen.query_one("#folder-note", Static)
        assert f"{loop} is a symbolic-link loop" in note.render().plain and note.has_class("problem")
        assert app.is_running


async def test_an_edit_made_in_another_program_is_noticed_and_never_overwritten(sample, services):
    services.memory.remember(sample.root, "settings")
    app = create_app(sample, services)
    said = record_notices(app)
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
        assert any("training.steps = -1: should be at least 1" in notice for notice in said)
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
        await pilot.press("escape")  # out of the first setting, whose typing hides the letter keys
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
        assert {"Add images", "Take out", "Prepare"} <= set(titles)
        await pilot.press("question_mark")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "KeysScreen"


async def test_work_that_fails_is_said_on_the_screen_and_the_wizard_goes_on(sample, services):
    def broken_checks(project) -> DatasetReport:
        raise RuntimeError("the checks fell over")

    services.check_images = broken_checks
    app = create_app(sample, services)
    said = record_notices(app)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(app, pilot)
        assert any("RuntimeError: the checks fell over" in notice for notice in said)
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
        await pilot.press("escape", "a")  # out of the caption editor, where `a` is a letter
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

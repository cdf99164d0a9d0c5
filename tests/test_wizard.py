"""The wizard driven by keys: from the start screen through Images, Captions, Token and Settings, with the
files on disk checked after each step. No sleeps: the tests wait for workers and messages."""

import tomllib
from pathlib import Path

import pytest
from PIL import Image
from textual.widgets import DataTable, Input, Select, Static
from wizard_support import copy_of_sample, fake_services, settle, shown, until

from ti_tui.dataset.captions import read_caption_file
from ti_tui.dataset.files import list_image_files
from ti_tui.project import Project
from ti_tui.tui.app import create_app
from ti_tui.tui.screens.captions import CaptionsScreen
from ti_tui.tui.screens.images import ImagesScreen
from ti_tui.tui.screens.settings import SettingsScreen
from ti_tui.tui.screens.start import StartScreen
from ti_tui.tui.screens.token import TokenScreen
from ti_tui.tui.widgets.rate_plot import RatePlot
from ti_tui.tui.widgets.setting_field import SettingField
from ti_tui.tui.widgets.step_bar import StepTab

SIZE = (100, 32)


def settings_on_disk(folder: Path) -> dict:
    return tomllib.loads((folder / "project.toml").read_text())


async def type_into(pilot, field: Input, text: str) -> None:
    field.focus()
    field.value = ""
    await pilot.press(*text)


@pytest.mark.slow
async def test_the_journey_from_the_start_screen_to_the_settings(tmp_path, no_pictures):
    sample = copy_of_sample(tmp_path / "sample")
    services = fake_services(tmp_path / "data")
    services.memory.remember(sample, "captions")
    app = create_app(None, services)
    async with app.run_test(size=SIZE) as pilot:
        # Start: the recent project opens on the step it was left on.
        await until(pilot, lambda: isinstance(app.screen, StartScreen), "the start screen")
        await settle(app, pilot)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, CaptionsScreen), "the sample on Captions")
        assert app.project.root == sample.resolve()

        # A new project from the sample's images, through the form.
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, StartScreen), "the start screen again")
        await pilot.press("n")
        await until(pilot, lambda: app.screen.query("#trigger"), "the new-project form")
        form = app.screen
        form.query_one("#folder", Input).value = str(tmp_path / "zorbot")
        form.query_one("#model", Input).value = "builtin:tiny"
        form.query_one("#images", Input).value = str(sample / "images")
        form.query_one("#kind", Select).value = "face"
        await type_into(pilot, form.query_one("#trigger", Input), "wdnsdy")
        assert "10 image(s) in it" in form.query_one("#images-note", Static).render().plain
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ImagesScreen), "the new project on Images")
        new = tmp_path / "zorbot"
        on_disk = settings_on_disk(new)
        assert on_disk["token"]["trigger"] == "wdnsdy" and on_disk["model"]["base"] == "builtin:tiny"
        assert Path(on_disk["dataset"]["images"]) == sample / "images" and on_disk["dataset"]["kind"] == "face"
        assert on_disk["token"]["init_text"] == "person", "proposed from what the images show"

        # Images: add one, take one out, prepare.
        await settle(app, pilot)
        extra = tmp_path / "extra.png"
        Image.effect_noise((640, 640), 60).convert("RGB").save(extra)
        await pilot.press("a")
        await until(pilot, lambda: app.screen.query("#path"), "the path question")
        app.screen.query_one("#path", Input).value = str(extra)
        await pilot.press("enter")
        await settle(app, pilot)
        assert (sample / "images" / "extra.png").is_file()
        table = app.screen.query_one("#images", DataTable)
        assert table.row_count == 11
        table.focus()
        await pilot.press("x")  # the first row, 01-hill.jpg, out of training
        await settle(app, pilot)
        assert settings_on_disk(new)["dataset"]["exclude"] == ["01-hill.jpg"]
        await pilot.press("p")
        await settle(app, pilot)
        prepared = sorted(path.name for path in list_image_files(new / "prepared"))
        assert len(prepared) == 10 and "01-hill.png" not in prepared and "extra.png" in prepared
        assert "All prepared." in shown(app.screen, "#verdict")

        # Captions: write one, then a bulk replacement.
        await pilot.press("2")
        await until(pilot, lambda: isinstance(app.screen, CaptionsScreen), "the Captions step")
        await settle(app, pilot)
        first = list_image_files(new / "prepared")[0]
        await type_into(pilot, app.screen.query_one("#caption", Input), "robot on a hill at dawn")
        assert "robot on a hill at dawn" in shown(app.screen, "#prompts")
        await pilot.press("enter")
        assert read_caption_file(first) == "robot on a hill at dawn"
        await pilot.press("escape", "b")
        await until(pilot, lambda: app.screen.query("#bulk-edit"), "the bulk-edit dialog")
        await type_into(pilot, app.screen.query_one("#words", Input), "robot")
        app.screen.query_one("#replacement", Input).value = "droid"
        await pilot.pause()
        assert "captions change" in shown(app.screen, "#preview")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, CaptionsScreen), "back on Captions")
        assert read_caption_file(first) == "droid on a hill at dawn"
        assert (new / "prepared" / "caption-history").is_dir()

        # Token: a new trigger, tokenized as it is typed, saved.
        await pilot.press("3")
        await until(pilot, lambda: isinstance(app.screen, TokenScreen), "the Token step")
        await settle(app, pilot)
        assert "'wdnsdy' is read as 2 piece(s): wdn · sdy" in shown(app.screen, "#pieces")
        trigger = app.screen.query_one("#trigger", SettingField).query_one(Input)
        await type_into(pilot, trigger, "zorbotix")
        await pilot.press("enter")
        await settle(app, pilot)
        assert "'zorbotix' is read as 3 piece(s): zor · bot · ix" in shown(app.screen, "#pieces")
        assert settings_on_disk(new)["token"]["trigger"] == "zorbotix"

        # Settings: a schedule typed is drawn; a bad one is said in place and not saved.
        await pilot.press("escape", "4")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen), "the Settings step")
        await settle(app, pilot)
        plot = app.screen.query_one(RatePlot)
        rate = app.screen.query_one("#schedule-learning_rate", SettingField).query_one(Input)
        await type_into(pilot, rate, "0.01:100, 0.001")
        assert plot.points[0][1] == 0.01 and plot.points[-1][1] == 0.001
        await pilot.press("enter")
        assert settings_on_disk(new)["schedule"]["learning_rate"] == "0.01:100, 0.001"
        await type_into(pilot, rate, "0.01:abc")
        note = app.screen.query_one("#schedule-learning_rate", SettingField).query_one(".setting-note", Static).render().plain
        assert (
            "schedule.learning_rate" in note and "'abc'" in note
        )  # the curve's words or the field's check (doctor's), whichever came last
        await pilot.press("enter")
        assert settings_on_disk(new)["schedule"]["learning_rate"] == "0.01:100, 0.001"
        assert plot.points[0][1] == 0.01  # the last good curve stays

        # The steps bar reads the files: Images and Captions are done.
        marks = {tab.step: tab.render().plain for tab in app.screen.query(StepTab)}
        assert marks["images"].endswith("✓") and marks["token"].endswith("✓")

    assert services.memory.last_step(new) == "settings"
    assert Project.open(new).settings.token.trigger == "zorbotix"

"""The Captions step at the keyboard, at 80x24: focus lands on the caption editor, typing goes into the
caption it was typed for and nowhere else, and no key typed there fires an action."""

import pytest
from textual.binding import Binding
from textual.keys import key_to_character
from textual.widgets import Input, OptionList
from wizard_support import copy_of_sample, fake_services, settle, shown, type_ahead

from ti_tui.dataset.captions import read_caption_file
from ti_tui.dataset.files import caption_path
from ti_tui.project import Project
from ti_tui.tui.app import create_app
from ti_tui.tui.screens.captions import CaptionsScreen
from ti_tui.usecases.images import prepare_project

SIZE = (80, 24)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Project:
    """The sample, prepared, with no caption for 01, 03 and 05; the others keep the sample's."""
    monkeypatch.setenv("TI_TUI_IMAGES", "off")
    project = Project.open(copy_of_sample(tmp_path / "sample"))
    prepare_project(project)
    for stem in ("01-hill", "03-night", "05-forest"):
        caption_path(project.prepared_dir / f"{stem}.png").unlink()
    return project


@pytest.fixture
def app(project, tmp_path):
    services = fake_services(tmp_path / "data")
    services.memory.remember(project.root, "captions")
    return create_app(project, services)


def caption(project: Project, stem: str) -> str | None:
    return read_caption_file(project.prepared_dir / f"{stem}.png")


def editor(app) -> Input:
    return app.screen.query_one("#caption", Input)


async def test_arriving_on_captions_focuses_the_caption_editor_with_its_cursor_at_the_end(app, project):
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, CaptionsScreen)
        assert app.focused is editor(app)
        await pilot.press(*"a robot")
        await settle(app, pilot)
        assert editor(app).value == "a robot"


async def test_after_enter_typing_goes_at_the_end_of_the_next_images_caption(app, project):
    beach = caption(project, "02-beach")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        editor(app).focus()
        await pilot.press(*"AAA", "enter")
        await settle(app, pilot)
        assert editor(app).value == beach
        await pilot.press(*"BBB", "enter")
        await settle(app, pilot)
        assert caption(project, "01-hill") == "AAA"
        assert caption(project, "02-beach") == beach + "BBB"
        assert editor(app).value == "" and app.focused is editor(app)  # 03-night, which has none


async def test_five_captions_typed_ahead_each_land_in_their_own_file(app, project):
    before = {stem: caption(project, stem) for stem in ("02-beach", "04-room", "06-closeup")}
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        editor(app).focus()
        await settle(app, pilot)
        type_ahead(
            app,
            "a robot on a hill",
            "enter",
            ", at dawn",
            "enter",
            "a robot at night",
            "enter",
            ", in the rain",
            "backspace",
            "n",
            "enter",
            "a robot in a forest",
            "enter",
        )
        await settle(app, pilot)
        assert caption(project, "01-hill") == "a robot on a hill"
        assert caption(project, "02-beach") == before["02-beach"] + ", at dawn"
        assert caption(project, "03-night") == "a robot at night"
        assert caption(project, "04-room") == before["04-room"] + ", in the rain"
        assert caption(project, "05-forest") == "a robot in a forest"
        assert caption(project, "06-closeup") == before["06-closeup"]
        assert editor(app).value == before["06-closeup"]


async def test_an_image_without_a_caption_file_is_captioned_by_its_file_name_until_one_is_typed(app, project):
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        listing = app.screen.query_one("#captions", OptionList)
        assert str(listing.get_option_at_index(0).prompt) == "01-hill  (file name) hill"
        assert shown(app.screen, "#caption-title") == "Caption of 01-hill (its file name's words)"
        assert editor(app).value == ""
        assert "a photo of zorbot, hill" in shown(app.screen, "#prompts")
        assert shown(app.screen, "#verdict") == "10 prepared images; each has a caption (3 from file names, which a replaces)."

        await pilot.press(*"a (red:1.2) robot")
        await settle(app, pilot)
        assert "is emphasis, which training does not weigh" in shown(app.screen, "#warnings")
        assert shown(app.screen, "#caption-title") == "Caption of 01-hill (Enter: the next image)"
        await pilot.press("enter")
        await settle(app, pilot)
        assert caption(project, "01-hill") == "a (red:1.2) robot"
        assert str(listing.get_option_at_index(0).prompt) == "01-hill  a (red:1.2) robot"

        await pilot.press("up", "ctrl+u", "enter")  # back to 01, its caption cleared: the file name's words again
        await settle(app, pilot)
        assert caption(project, "01-hill") is None
        assert str(listing.get_option_at_index(0).prompt) == "01-hill  (file name) hill"

        project.update({"training.captions_from_file_names": False})
        app.action_reload()  # as ctrl+r does after the file is edited elsewhere
        await settle(app, pilot)
        assert str(listing.get_option_at_index(2).prompt) == "03-night  (no caption)"
        assert "3 without a caption" in shown(app.screen, "#verdict")


def printable_keys_bound(*owners) -> str:
    """Every printable key that the classes `owners` (and the classes they derive from) bind."""
    bindings = (
        binding for owner in owners for cls in type(owner).__mro__ for binding in Binding.make_bindings(vars(cls).get("BINDINGS", []))
    )
    characters = {key_to_character(binding.key) for binding in bindings}
    return "".join(sorted(character for character in characters - {None} if character.isprintable()))


async def test_step_and_action_keys_typed_into_the_editor_change_only_its_text(app, project):
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        typed = printable_keys_bound(app, screen)
        assert set("1234567[]?aAbcgr") <= set(typed)
        await pilot.press(*typed)
        await settle(app, pilot)
        assert app.screen is screen and not screen.query("HelpPanel")
        assert app.focused is editor(app) and editor(app).value == typed
        assert screen.query_one("#captions", OptionList).highlighted == 0
        assert caption(project, "01-hill") is None and caption(project, "02-beach") is not None  # nothing captioned


async def test_escape_leaves_the_editor_and_tab_goes_back_into_it_without_selecting_the_caption(app, project):
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        editor(app).focus()  # as the arrival does: this test is about leaving and coming back
        await pilot.press(*"a robot", "escape")
        await settle(app, pilot)
        listing = app.screen.query_one("#captions", OptionList)
        assert app.focused is listing
        await pilot.press("down", "tab")
        await settle(app, pilot)
        beach = caption(project, "02-beach")
        assert app.focused is editor(app) and editor(app).value == beach
        assert editor(app).selection.is_empty and editor(app).cursor_position == len(beach)
        await pilot.press("enter")
        await settle(app, pilot)
        assert caption(project, "01-hill") == "a robot" and caption(project, "02-beach") == beach

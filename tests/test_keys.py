"""`?` lists the keys that act on the screen below, its own first, in the wizard's words."""

from textual.widgets import DataTable, Static
from wizard_support import copy_of_sample, fake_services, settle

from ti_tui.project import Project
from ti_tui.tui.app import create_app
from ti_tui.tui.screens.keys import KeysScreen


async def test_the_keys_of_the_screen_come_first_and_the_list_closes_back_to_where_focus_was(tmp_path):
    project = Project.open(copy_of_sample(tmp_path / "project"))
    app = create_app(project, fake_services(tmp_path / "data"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        images = app.screen
        table = images.query_one(DataTable)
        table.focus()
        await pilot.press("question_mark")
        await settle(app, pilot)
        assert isinstance(app.screen, KeysScreen)
        lines = [line.strip() for line in str(app.screen.query_one("#key-lines", Static).render()).splitlines()]
        said = [line.split("  ", 1)[1].strip() for line in lines]
        assert said[:3] == ["Add images", "Take out", "Prepare"]
        assert said.index("Next") < said.index("Quit") < said.index("Focus Next")
        assert "1234567" in lines[said.index("Go to that step (1 Images ... 7 Apply)")]
        assert len(said) == len(set(said)), "a key said twice"
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is images and images.focused is table


async def test_the_palette_finds_a_setting_by_the_words_of_its_description_and_puts_the_cursor_in_its_field(tmp_path):
    from textual.command import CommandPalette
    from textual.widgets import Input

    from ti_tui.tui.screens.settings import SettingsScreen
    from ti_tui.tui.screens.token import TokenScreen

    project = Project.open(copy_of_sample(tmp_path / "project"))
    app = create_app(project, fake_services(tmp_path / "data"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        for typed, screen_type, field in (
            ("between checkpoints", SettingsScreen, "training-save_every"),
            ("token.trigger", TokenScreen, "trigger"),
        ):
            await pilot.press("escape", "ctrl+p")
            await settle(app, pilot)
            assert isinstance(app.screen, CommandPalette)
            await pilot.press(*typed)
            await settle(app, pilot)
            await pilot.press("enter")
            await settle(app, pilot)
            assert isinstance(app.screen, screen_type)
            assert app.focused is app.screen.query_one(f"#{field}").query_one(Input)

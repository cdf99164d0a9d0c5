"""Focus on every step: where it lands on arrival, and that keys typed into a field are typing, never actions."""

import pytest
from textual.keys import key_to_character
from textual.widgets import Input, TextArea
from wizard_support import fake_services, footer_cut, settle, type_ahead

from ti_tui.project import Project
from ti_tui.tui.app import create_app
from ti_tui.usecases.images import prepare_project

ARRIVAL = {  # the widget a step's keys and arrows act on first
    "images": "#images",
    "captions": "#caption",
    "token": "#trigger Input",
    "settings": "#training-steps Input",
    "train": "#panels Tabs",
    "compare": "#cells",
    "apply": "#formats Checkbox",
}


def printable_keys(screen) -> list[str]:
    """Every key bound on the screen or the app that types a character: what a field must take as typing."""
    keys = []
    for node in (screen, screen.app):
        for binding in node._bindings.key_to_bindings:
            character = key_to_character(binding)
            if character is not None and character.isprintable():
                keys.append(binding)
    return sorted(set(keys))


@pytest.mark.parametrize("step", list(ARRIVAL))
async def test_arriving_on_a_step_focuses_the_widget_its_keys_act_on(trained_sample, tmp_path, step):
    app = create_app(trained_sample, fake_services(tmp_path / "data"))
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_step(step)
        await settle(app, pilot)
        wanted = app.screen.query(ARRIVAL[step]).first()
        assert app.focused is not None, f"nothing has focus on {step}"
        assert app.focused is wanted or wanted in app.focused.ancestors_with_self, f"{step}: focus is on {app.focused!r}"


def cells_without_colour(app, region) -> list[tuple]:
    """What a terminal of 16 colours, or a user who cannot tell two colours apart, still tells apart: each
    character in `region` with its bold, reverse, underline and italic."""
    lines = app.screen._compositor.render_update(full=True).strips
    cells = []
    for y in range(region.y, region.bottom):
        row = [(segment.text, segment.style) for strip in lines[y] for segment in strip]
        characters = [(character, style) for text, style in row for character in text]
        for character, style in characters[region.x : region.right]:
            cells.append((character, *(bool(style and getattr(style, name)) for name in ("bold", "reverse", "underline", "italic"))))
    return cells


def quick(*steps: str, among) -> list:
    """Every one of `among`, those but `steps` in the slow tier only: the quick tier looks at the few that matter most."""
    return [step if step in steps else pytest.param(step, marks=pytest.mark.slow) for step in among]


@pytest.mark.parametrize("step", quick("token", "compare", among=ARRIVAL))  # the two whose marks were colour alone
async def test_where_focus_is_shows_without_colour(trained_sample, tmp_path, step):
    if step == "captions":
        prepare_project(trained_sample)  # the editor is shown with an image to caption
    app = create_app(trained_sample, fake_services(tmp_path / "data"))
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_step(step)
        await settle(app, pilot)
        focused = app.focused
        around = focused.region.grow((1, 1, 1, 1)).intersection(app.screen.region)  # a frame or a bar beside it
        with_focus = cells_without_colour(app, around)
        app.screen.set_focus(None)
        await settle(app, pilot)
        assert cells_without_colour(app, around) != with_focus, f"{step}: {focused!r} is marked by colour alone"


@pytest.mark.parametrize(
    ("step", "keys", "field"),
    [
        ("images", ["3", "abc"], "#trigger Input"),  # a step key, then typing on the step it opens
        pytest.param("images", ["2", " at dusk"], "#caption", marks=pytest.mark.slow),
        pytest.param("train", ["4", "12"], "#training-steps Input", marks=pytest.mark.slow),  # 1 and 2 typed into a field
        ("images", ["5", "4", "12"], "#training-steps Input"),  # a step passed through on the way
        pytest.param("images", ["a", "xyz"], "#path", marks=pytest.mark.slow),  # a dialog
    ],
)
async def test_keys_typed_the_moment_after_a_key_that_opens_a_screen_go_into_its_field(trained_sample, tmp_path, step, keys, field):
    """Keys a terminal delivers together, as on a busy machine or a slow link: those after the step key were
    lost, or acted on the step being left, while the new screen was being built."""
    app = create_app(trained_sample, fake_services(tmp_path / "data"))
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_step(step)
        await settle(app, pilot)
        type_ahead(app, *keys)
        await settle(app, pilot)
        typed = app.screen.query_one(field)
        assert app.focused is typed, f"focus is on {app.focused!r}"
        text = typed.value if isinstance(typed, Input) else typed.text
        assert text.endswith(keys[-1]), f"{field} holds {text!r}"


@pytest.mark.parametrize("step", quick("start", "images", "captions", among=["start", *ARRIVAL]))  # the most keys
async def test_the_footer_is_whole_at_80_columns_on_arrival(trained_sample, tmp_path, step):
    services = fake_services(tmp_path / "data")
    services.memory.remember(trained_sample.root)  # the start screen then offers x Forget as well
    app = create_app(None if step == "start" else trained_sample, services)
    async with app.run_test(size=(80, 24)) as pilot:
        if step != "start":
            app.open_step(step)
        await settle(app, pilot)
        assert footer_cut(app) == [], f"{step}: the footer runs past 80 columns, cutting {footer_cut(app)}"


@pytest.mark.slow  # a sweep: every field, every key
@pytest.mark.parametrize("step", list(ARRIVAL))
async def test_every_key_typed_into_a_field_is_typing(trained_sample, tmp_path, step):
    app = create_app(trained_sample, fake_services(tmp_path / "data"))
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_step(step)
        await settle(app, pilot)
        screen = app.screen
        keys = printable_keys(screen)
        for field in [*screen.query(Input), *screen.query(TextArea)]:
            if not field.display or field.disabled or not field.focusable:
                continue
            field.focus()
            await settle(app, pilot)
            before = field.value if isinstance(field, Input) else field.text
            await pilot.press("end", *keys)
            await settle(app, pilot)
            assert app.screen is screen, f"{step}: typing {keys} into #{field.id} left the step for {app.screen!r}"
            after = field.value if isinstance(field, Input) else field.text
            typed = "".join(key_to_character(key) for key in keys)
            assert typed in after and len(after) == len(before) + len(typed), f"{step}: #{field.id} holds {after!r}"


async def test_a_panel_with_a_table_gives_it_the_arrows_as_soon_as_it_is_shown(trained_sample, tmp_path):
    """Train's Checkpoints and Runs ignored the arrows until tabbed into: Down then `c` continued from
    another checkpoint than the one meant."""
    from textual.widgets import DataTable, TabbedContent

    app = create_app(trained_sample, fake_services(tmp_path / "data"))
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_step("train")
        await settle(app, pilot)
        for panel, table in (("checkpoints", "#checkpoint-table"), ("runs", "#run-table")):
            app.screen.query_one(TabbedContent).active = panel
            await settle(app, pilot)
            assert app.focused is app.screen.query_one(table, DataTable), f"{panel}: focus is on {app.focused!r}"


async def test_apply_formats_show_their_mark_only_when_ticked(trained_sample, tmp_path):
    """Ticked or not, the boxes drew ▐X▌, told apart by colour alone."""
    from textual.widgets import Checkbox

    app = create_app(trained_sample, fake_services(tmp_path / "data"))
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_step("apply")
        await settle(app, pilot)
        boxes = list(app.screen.query("#formats Checkbox").results(Checkbox))
        assert any(box.value for box in boxes) and not all(box.value for box in boxes)
        for box in boxes:
            assert ("X" in str(box.render())) == box.value, f"{box.label}: {box.render()!s}"


async def test_home_and_end_in_the_images_list_choose_the_first_and_last_image_that_x_then_takes_out(trained_sample, tmp_path):
    """End scrolled the list sideways and left the cursor, out of sight, on the first image: x then took out
    an image the user never saw chosen (seen in tmux at 80x24)."""
    app = create_app(trained_sample, fake_services(tmp_path / "data"))
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_step("images")
        await settle(app, pilot)
        await pilot.press("end")
        await settle(app, pilot)
        assert app.screen.query_one("#image-findings").render().plain.startswith("10-portrait.jpg")
        await pilot.press("x")
        await settle(app, pilot)
        assert Project.open(trained_sample.root).settings.dataset.exclude == ["10-portrait.jpg"]
        await pilot.press("home", "x")
        await settle(app, pilot)
        assert Project.open(trained_sample.root).settings.dataset.exclude == ["01-hill.jpg", "10-portrait.jpg"]

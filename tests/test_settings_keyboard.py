"""The Settings step at the keyboard: focus on arrival and from field to field, typing that goes only into the
field, and nothing shown that project.toml does not hold unless its field says it is not saved, and why."""

import pytest
from textual import events
from textual.binding import Binding
from textual.keys import key_to_character
from textual.widgets import Input, Select, Static
from wizard_support import settle, type_ahead, until

from ti_tui.project import Project
from ti_tui.schedule import LearningRateSchedule
from ti_tui.tui.app import create_app
from ti_tui.tui.screens.images import ImagesScreen
from ti_tui.tui.screens.settings import GROUPS, SettingsScreen
from ti_tui.tui.screens.token import TokenScreen
from ti_tui.tui.widgets.rate_plot import RatePlot
from ti_tui.tui.widgets.setting_field import SettingField

SIZE = (80, 24)

# Per field: the edits a user makes, in order: a valid value, one that cannot be saved (alone or because
# of another field; fields that offer only valid choices get another valid one), then a valid one again.
# An edit to another field first is written (other key, value); it is made before the field's own edit.
EDITS = {
    "training.steps": ["400", "0", "350"],
    "training.batch_size": ["2", "65", "1"],
    "training.gradient_accumulation": ["2", "many", "1"],
    "training.save_every": ["50", "0", "100"],
    "training.validation_every": ["25", "-1", "0"],
    "training.seed": ["7", "-7", "1234"],
    "training.template": ["art_style", "nonsense", "photo_caption"],
    "training.captions_from_file_names": [False, True, False],
    "training.shuffle_tags": [True, False, True],
    "training.keep_tags": ["1", "1.5", "0"],
    "training.tag_dropout": ["0.1", "1", "0.0"],
    "training.latent_sampling": ["once", "random", "deterministic"],
    "training.min_snr_gamma": ["5", "-5", "0"],
    "training.clip_grad_norm": ["1.5", "x", "0"],
    "training.gradient_checkpointing": ["on", "off", "auto"],
    "training.processes": ["2", "65", "1"],
    # cosine takes one rate and the sample's rate is piecewise: unsaved until the rate is mended below
    "schedule.preset": ["piecewise", "cosine", ("schedule.learning_rate", "0.004")],
    "schedule.learning_rate": ["0.003", "0.003:100, 0.001", "0.002"],
    # warmup_cosine then needs fewer warmup steps than training.steps (350): unsaved until the preset changes
    "schedule.warmup_steps": ["50", ("schedule.preset", "warmup_cosine", "400"), ("schedule.preset", "cosine")],
    # above the cosine's peak (0.002) the rate would rise: unsaved until the peak is raised
    "schedule.min_learning_rate": ["0.0001", "0.01", ("schedule.learning_rate", "0.02")],
    "preview.every": ["100", "-100", "0"],
    "preview.prompts": ["a photo of [name] | [name] at night", "a photo of [name]\x07", "a photo of [name]"],
    "preview.compare_init": [False, True, False],
    "preview.negative_prompt": ["blurry", "blurry\x1b", ""],
    "preview.seeds": ["1, 2, 3", "1, -2", "5"],
    "preview.sampling_steps": ["10", "201", "20"],
    "preview.cfg_scale": ["5", "31", "7.5"],
}
SETTINGS_KEYS = [f"{section}.{name}" for section, names in GROUPS.values() for name in names]


def on_disk(project: Project, key: str):
    section, name = key.split(".")
    return getattr(getattr(Project.open(project.root).settings, section), name)


def note_of(field: SettingField) -> str:
    return field.query_one(".setting-note", Static).render().plain


def shown_value(field: SettingField):
    """The value the field's widget shows, as the setting's type."""
    widget = field.query_one(".setting-input")
    return field.parse(widget.value) if isinstance(widget, Input) else widget.value


def unsaved_reason(field: SettingField) -> str:
    """What the field says when it holds a value that is not saved: "" when it says nothing of the kind."""
    note = note_of(field)
    return note.removeprefix("not saved: ") if field.has_class("-unsaved") and note.startswith("not saved: ") else ""


def mismatches(app, project: Project) -> list[str]:
    """Every widget that shows something project.toml does not hold, without saying that it is not saved."""
    wrong = []
    disk = Project.open(project.root).settings
    for field in app.screen.query(SettingField):
        section, name = field.key.split(".")
        saved = getattr(getattr(disk, section), name)
        try:
            shown = shown_value(field)
        except ValueError:
            shown = field.value
        reason = unsaved_reason(field)
        if shown != saved and not reason:
            wrong.append(f"{field.key} shows {shown!r}, project.toml holds {saved!r}, and it is not marked unsaved")
        if shown == saved and reason:
            wrong.append(f"{field.key} shows {shown!r} as project.toml holds it, but says it is not saved: {reason}")
    schedule_unsaved = any(unsaved_reason(field) for field in app.screen.query(SettingField) if field.key.startswith("schedule."))
    if not schedule_unsaved and not unsaved_reason(app.screen.query_one("#training-steps", SettingField)):
        curve = LearningRateSchedule.from_settings(disk.schedule, disk.training.steps)
        plot = app.screen.query_one(RatePlot)
        if plot.points[-1][0] != disk.training.steps or any(rate != curve.rate_at(step) for step, rate in plot.points):
            wrong.append(f"the plot does not draw the saved schedule {disk.schedule} over {disk.training.steps} steps")
        described = note_of(app.screen.query_one("#schedule-learning_rate", SettingField))
        if described != "; ".join(curve.describe()):
            wrong.append(f"the learning rate's note says {described!r}, not the saved schedule")
    return wrong


async def edit(app, pilot, key: str, value) -> None:
    """Put `value` in the field of `key` as a user does: typed and Enter, or chosen, or switched."""
    field = app.screen.query_one(f"#{key.replace('.', '-')}", SettingField)
    widget = field.query_one(".setting-input")
    widget.focus()
    await pilot.pause()
    if isinstance(widget, Input):
        widget.value = value
        await pilot.press("enter")
    else:
        widget.value = value
    await settle(app, pilot)


async def open_settings(app, pilot) -> None:
    await settle(app, pilot)
    assert isinstance(app.screen, SettingsScreen)


async def test_a_preset_chosen_while_the_rate_does_not_suit_it_is_marked_unsaved_then_saved_once_the_rate_is_mended(sample, services):
    services.memory.remember(sample.root, "settings")
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        await open_settings(app, pilot)
        await edit(app, pilot, "schedule.learning_rate", "0.005:200, 0.002:1000, 0.0005")
        assert on_disk(sample, "schedule.learning_rate") == "0.005:200, 0.002:1000, 0.0005"

        await edit(app, pilot, "schedule.preset", "cosine")
        preset = app.screen.query_one("#schedule-preset", SettingField)
        assert on_disk(sample, "schedule.preset") == "piecewise"
        assert "takes one rate" in unsaved_reason(preset), note_of(preset)

        await edit(app, pilot, "schedule.learning_rate", "0.005")
        assert (on_disk(sample, "schedule.preset"), on_disk(sample, "schedule.learning_rate")) == ("cosine", "0.005")
        assert preset.query_one(Select).value == "cosine" and not unsaved_reason(preset)
        assert mismatches(app, sample) == []


@pytest.mark.slow  # a sweep: every field, every key
async def test_every_field_edited_valid_invalid_and_valid_again_shows_what_project_toml_holds(sample, services):
    assert sorted(EDITS) == sorted(SETTINGS_KEYS)  # every field of the screen, and no other
    services.memory.remember(sample.root, "settings")
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        await open_settings(app, pilot)
        assert mismatches(app, sample) == []
        for key, values in EDITS.items():
            for number, value in enumerate(values):
                steps = [(key, value)] if not isinstance(value, tuple) else [value[:2], *((key, later) for later in value[2:])]
                for edited, typed in steps:
                    await edit(app, pilot, edited, typed)
                    assert mismatches(app, sample) == [], f"after {edited} = {typed!r}"
                field = app.screen.query_one(f"#{key.replace('.', '-')}", SettingField)
                if number == 1 and isinstance(field.query_one(".setting-input"), Input):
                    assert unsaved_reason(field), f"{key} = {value!r} should not be saved: {note_of(field)}"
                if number == 2:
                    assert not unsaved_reason(field), f"{key}: {note_of(field)}"
        assert not any(unsaved_reason(field) for field in app.screen.query(SettingField))


async def type_at_once(app, pilot, *keys: str) -> None:
    """`keys` queued together, as a terminal hands them to a wizard busy building a screen when typed at a
    person's speed; a pilot's press instead waits for each key to be handled before the next."""
    for key in keys:
        app.post_message(events.Key(key, key_to_character(key)))
    await settle(app, pilot)


async def test_arriving_on_settings_focuses_the_first_setting_and_typing_after_a_tab_goes_into_the_next(sample, services):
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, ImagesScreen)
        await pilot.press("escape", "4")
        await settle(app, pilot)
        assert isinstance(app.screen, SettingsScreen)
        steps = app.screen.query_one("#training-steps", SettingField).query_one(Input)
        assert app.screen.focused is steps
        await type_at_once(app, pilot, "tab", "6", "0")
        batch = app.screen.query_one("#training-batch_size", SettingField)
        assert app.screen.focused is batch.query_one(Input)
        assert batch.value == "160" and steps.value == "300"
        await until(pilot, lambda: unsaved_reason(batch), "the batch size said to be unsaved")
        assert "should be at most 64" in unsaved_reason(batch)
        assert on_disk(sample, "training.batch_size") == 1

        await type_at_once(app, pilot, "shift+tab", "escape")
        assert app.screen.focused is None and steps.value == "300"
        await type_at_once(app, pilot, "tab", "6", "0")
        assert app.screen.focused is steps and steps.value == "30060"
        # One by one: a bound key such as backspace acts only once it comes back up from the field.
        await pilot.press(*["backspace"] * 4, "6", "0")
        assert steps.value == "360"
        batch.query_one(Input).value = "1"
        await type_at_once(app, pilot, "enter", "escape", "3")
        assert isinstance(app.screen, TokenScreen)
    assert (on_disk(sample, "training.steps"), on_disk(sample, "training.batch_size")) == (360, 1)


def printable_keys(screen) -> list[str]:
    """The keys of every binding of the screen (those its state hides too) and of the app that type a character."""
    screen.set_focus(None)
    declared = (binding for kind in type(screen).__mro__ for binding in vars(kind).get("BINDINGS", []) if isinstance(binding, Binding))
    keys = {*screen.active_bindings, *(key for binding in declared for key in binding.key.split(","))}
    return sorted(key for key in keys if (key_to_character(key) or "\t").isprintable())


@pytest.mark.slow  # a sweep: every field, every key
async def test_every_step_and_action_key_typed_into_each_text_field_tabbed_to_goes_into_that_field_only(sample, services):
    services.memory.remember(sample.root, "settings")
    before_all = sample.store.path.read_text()
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        await open_settings(app, pilot)
        arrived_at = app.screen.focused
        keys = printable_keys(app.screen)
        assert {"1", "4", "7", "left_square_bracket", "right_square_bracket", "g", "r", "f"} <= set(keys), keys
        typed = "".join(key_to_character(key) for key in keys)
        app.screen.set_focus(arrived_at)
        await pilot.pause()
        fields = list(app.screen.query(SettingField))
        for number, field in enumerate(fields):
            widget = field.query_one(".setting-input")
            assert app.screen.focused is widget, f"{number} tab(s) from the arrival should reach {field.key}"
            if isinstance(widget, Input):
                before = {other.key: other.value for other in fields}
                await pilot.press("end", *keys)
                await settle(app, pilot)
                assert isinstance(app.screen, SettingsScreen) and app.screen.focused is widget, f"typing into {field.key}"
                assert {other.key: other.value for other in fields} == {**before, field.key: before[field.key] + typed}
                widget.value = before[field.key]
                await pilot.press("enter")
            await pilot.press("tab")
        await settle(app, pilot)
        assert sample.store.path.read_text() == before_all


async def test_the_learning_rate_is_drawn_at_least_six_rows_tall_at_80x24_with_no_legend_over_its_labels(sample, services):
    services.memory.remember(sample.root, "settings")
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        await open_settings(app, pilot)
        plot = app.screen.query_one(RatePlot)
        curve_rows = plot.query_one("#plot").size.height - 2  # inside the axes drawn around the curve
        assert curve_rows >= 6
        assert not plot.query_one("#legend").display


async def test_a_setting_found_with_the_palette_stays_in_view_when_the_facts_above_it_arrive(sample, services):
    """The forecast above the settings comes from a worker: when it arrives after the palette has scrolled to a
    setting, the lines it adds must not push the field the cursor is in out of sight (seen in tmux at 80x24)."""
    services.memory.remember(sample.root, "settings")
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await settle(app, pilot)
        await pilot.press(*"learning_rate")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        field = app.screen.query_one("#schedule-learning_rate", SettingField)
        assert app.focused in field.query(Input)
        view = app.screen.query_one("#settings-scroll").scrollable_content_region
        assert view.contains_region(app.focused.region), f"the field at {app.focused.region}, the view {view}"
        await pilot.press("escape", "g")  # the guidance folded: the page grows, the setting stays in view
        await settle(app, pilot)
        view = app.screen.query_one("#settings-scroll").scrollable_content_region
        assert view.contains_region(field.query_one(Input).region)


async def test_the_setting_being_edited_stays_in_view_when_anything_above_it_grows(sample, services):
    """The page's size on screen stays the same, so Textual sends it no Resize: the page follows the height of
    what it holds. Waiting for the facts' own message lost the race to the layout on a busy machine."""
    services.memory.remember(sample.root, "settings")
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        field = app.screen.query_one("#schedule-learning_rate", SettingField)
        field.query_one(Input).focus()
        await settle(app, pilot)
        app.screen.query_one("#facts", Static).update("\n".join(f"line {number} of a longer forecast" for number in range(12)))
        await settle(app, pilot)
        view = app.screen.query_one("#settings-scroll").scrollable_content_region
        assert view.contains_region(field.query_one(Input).region), f"the field at {field.query_one(Input).region}, the view {view}"


async def test_a_field_emptied_with_ctrl_u_and_typed_into_at_once_holds_what_was_typed(sample, services):
    """On a busy machine the keys are all read in before the first is handled: ctrl+u, a binding, acted only
    once it had bubbled up to the app, behind the digits, so "100000" typed after it left "000" (seen in tmux)."""
    services.memory.remember(sample.root, "settings")
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        type_ahead(app, "ctrl+u", "100000")
        await settle(app, pilot)
        assert app.screen.query_one("#training-steps", SettingField).value == "100000"
        app.flush_edits()
        assert Project.open(sample.root).settings.training.steps == 100000

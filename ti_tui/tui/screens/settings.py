"""The Settings step: every training, schedule and preview setting with its one-line description; the
learning rate drawn as its text is typed; what the run will be, in words."""

from dataclasses import dataclass

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static

from ti_tui.schedule import LearningRateSchedule, ScheduleError
from ti_tui.settings import SECTION_MODELS, ScheduleSettings
from ti_tui.tui.screens.step import StepScreen
from ti_tui.tui.widgets.rate_plot import RatePlot
from ti_tui.tui.widgets.setting_field import SettingField

GUIDANCE = (
    "The defaults suit 10-50 images. The learning rate matters most: too high and the word copies the photos, "
    "too low and it learns nothing; its curve is drawn as you type it. Next: Train."
)
GROUPS = {
    "Training": ("training", ("steps", "batch_size", "gradient_accumulation", "save_every", "validation_every", "seed", "template",
                              "captions_from_file_names", "shuffle_tags", "keep_tags", "tag_dropout", "latent_sampling", "min_snr_gamma", "clip_grad_norm",
                              "gradient_checkpointing", "processes")),
    "Schedule": ("schedule", ("preset", "learning_rate", "warmup_steps", "min_learning_rate")),
    "Previews": ("preview", ("every", "prompts", "compare_init", "negative_prompt", "seeds", "sampling_steps", "cfg_scale")),
}  # fmt: skip
NUMBERS_DRAWN = ("warmup_steps", "min_learning_rate")  # the schedule's numbers that shape the curve
SHAPING_THE_RUN = {"training.steps", "training.batch_size", "training.gradient_accumulation", "training.processes"}


def setting_holding(widget: Widget | None) -> Widget | None:
    """The setting (its name, field and note) that holds `widget`, if one does."""
    return next((node for node in widget.ancestors if node.has_class("setting")), None) if widget is not None else None


class SettingsPage(VerticalScroll, can_focus=False):  # focus goes from field to field
    """The facts, then the settings one below another. The setting being edited stays in view when the page
    changes size (the guidance folded) and when what it holds grows (the facts above come from a worker)."""

    def on_resize(self, event: events.Resize) -> None:
        self.keep_the_edited_setting_in_view()

    def watch_virtual_size(self) -> None:
        """Set by the layout itself, which sends no Resize while the page's own size stays the same."""
        self.keep_the_edited_setting_in_view()

    def keep_the_edited_setting_in_view(self) -> None:
        setting = setting_holding(self.screen.focused)
        if setting is not None and self in setting.ancestors:
            self.call_after_refresh(self.scroll_to_widget, setting, animate=False)


class SettingsScreen(StepScreen):
    STEP = "settings"
    GUIDANCE = GUIDANCE
    CSS_PATH = "settings.tcss"
    AUTO_FOCUS = ""  # focus_the_field picks it: the first setting, or the one another step sent the user to

    @dataclass
    class Facts(Message):
        text: str

    BINDINGS = [
        Binding("f,f5", "fetch", "Fetch what is missing", id="settings.fetch"),  # f5 in a field, where f is typing
        # Taken before the field sees them: as ordinary bindings they act only once the key has come back up
        # from the field, and keys typed right after them (a busy machine queues them) went into the field
        # that focus was leaving.
        Binding("tab", "app.focus_next", "Next field", show=False, priority=True, system=True, id="settings.next-field"),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False, priority=True, system=True, id="settings.previous-field"),
        Binding("escape", "leave_field", "Leave the field", show=False, priority=True, system=True, id="settings.leave-field"),
    ]

    @dataclass
    class Fetched(Message):
        text: str

    def compose_body(self) -> ComposeResult:
        with SettingsPage(id="settings-scroll"):
            yield Static("", id="facts", markup=False)
            for title, (section, names) in GROUPS.items():
                yield Label(title, classes="section-title")
                for name in names:
                    with Vertical(classes="setting"):
                        yield Label(f"{section}.{name}", classes="field-title")
                        yield SettingField(f"{section}.{name}", describe=True, id=f"{section}-{name}")
                    if name == "learning_rate":
                        yield RatePlot(id="rate-plot")
            yield Label("Model", classes="section-title")
            yield Static("", id="model", markup=False)

    def __init__(self, focus: str | None = None):
        super().__init__()
        self.focus_on = focus  # a field's id, when another step sends the user here to set it
        self.first_step = 0

    def on_mount(self) -> None:
        super().on_mount()
        from ti_tui.usecases.training import first_step_after

        self.first_step = first_step_after(self.app.continue_from())  # the next run's steps count on from it
        self.redraw_schedule()
        self.show_facts()
        # Focus now, before the screen is shown: keys typed while it is built then go into the field, where
        # focus given at its resume would come after them, and they would reach no widget.
        self.focus_the_field()

        if self.focus_on:
            field = self.query_one(f"#{self.focus_on}", SettingField)
            self.call_after_refresh(field.scroll_visible, animate=False, top=True)

    def on_screen_resume(self) -> None:
        if self.focused is None:  # back with nothing focused (a blurred terminal, a field left with escape)
            self.focus_the_field()
        self.query_one(SettingsPage).keep_the_edited_setting_in_view()  # laid out afresh once shown

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """The focused setting in view whole: its name above the field and its note below, not the field alone."""
        setting = setting_holding(event.widget)
        if setting is not None:
            setting.scroll_visible(animate=False)

    def focus_the_field(self) -> None:
        """The field another step sent the user to, or else the first."""
        field = self.query_one(f"#{self.focus_on}" if self.focus_on else SettingField, SettingField)
        self.set_focus(field.query_one(".setting-input"), scroll_visible=False)  # the facts above stay in view

    def show_state(self, state) -> None:
        super().show_state(state)
        summary = state.summary
        if summary is not None:
            notices = "".join(f"\n{notice}" for notice in summary.notices)
            self.query_one("#model", Static).update(
                f"Model {summary.model_text}: {summary.model.detail}.\nTokenizer: {summary.tokenizer.detail}.{notices}"
            )
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "fetch":
            summary = self.app.state.summary
            return bool(summary and summary.fetchable)
        return True

    def action_fetch(self) -> None:
        self.notify("Fetching what the model lacks; this can take a while.")
        self.fetch()

    @work(thread=True, exit_on_error=False, exclusive=True, group="fetch")
    def fetch(self) -> None:
        from ti_tui.errors import UserError

        project = self.app.project
        try:
            fetched = self.app.services.fetch(project.settings.model, project.root)
            self.post_message(self.Fetched("\n".join(fetched) or "Nothing was missing."))
        except UserError as error:
            self.post_message(self.Fetched(str(error)))

    @on(Fetched)
    def fetched(self, message: Fetched) -> None:
        self.notify(message.text, markup=False, timeout=10)
        self.app.refresh_state()

    def show_facts(self) -> None:
        self.work_out_facts(self.app.project)

    @work(thread=True, exit_on_error=False, exclusive=True, group="facts")
    def work_out_facts(self, project) -> None:
        """The device (examined once per device and precision setting, in a helper process) and the forecast."""
        from ti_tui.tui.format import describe_forecast
        from ti_tui.usecases.forecast import forecast_run

        device = self.app.device_for(project, lambda: self.post_message(self.Facts("Examining this machine's compute device...")))
        self.post_message(
            self.Facts(
                describe_forecast(forecast_run(project, device, count_work_of_model=self.app.services.count_model_work), project, device)
            )
        )

    @on(Facts)
    def facts(self, message: Facts) -> None:
        self.query_one("#facts", Static).update(message.text)

    @on(Input.Changed)
    @on(Select.Changed)
    def changed(self, event) -> None:
        field = next((node for node in event.control.ancestors if isinstance(node, SettingField)), None)
        if field is None:
            return
        if field.key.startswith("schedule.") or field.key == "training.steps":
            self.redraw_schedule()

    def on_setting_field_saved(self, message: SettingField.Saved) -> None:
        """A value saved can be what another field's unsaved value waited for (a rate that suits its preset)."""
        for field in self.query(SettingField):
            if field.unsaved and field.key != message.key:
                field.save()
        self.show_facts()

    def redraw_schedule(self) -> None:
        """The curve of the schedule as typed (saved or not). A text that does not parse is said in place; a
        number outside its setting's bounds is said at its field at once, and is never drawn."""
        fields = {name: self.query_one(f"#schedule-{name}", SettingField) for name in SECTION_MODELS["schedule"].model_fields}
        numbers = {"steps": self.query_one("#training-steps", SettingField), **{name: fields[name] for name in NUMBERS_DRAWN}}
        rate_field = fields["learning_rate"]
        typed = {}
        for name, field in numbers.items():
            try:
                typed[name] = field.parse(field.value)
            except ValueError:
                return  # a number half typed: its own field says so once the typing stops
            problem = field.bounds_problem(typed[name])
            if problem:
                field.show_note(f"{field.key} = {field.value.strip()}: {problem}", problem=True)
                return
        try:
            schedule = ScheduleSettings.model_construct(
                preset=fields["preset"].value, learning_rate=rate_field.value, **{name: typed[name] for name in NUMBERS_DRAWN}
            )
            curve = LearningRateSchedule.from_settings(schedule, typed["steps"])
        except ScheduleError as error:
            rate_field.show_note(f"schedule.learning_rate: {error}", problem=True)
            return
        rate_field.resting_note = "; ".join(curve.describe(self.first_step))  # stays once the typing is saved
        rate_field.show_note("")
        self.query_one(RatePlot).show(curve, self.first_step)

    def settings_reloaded(self, project) -> None:
        for field in self.query(SettingField):
            field.show_saved()
        self.redraw_schedule()
        self.show_facts()

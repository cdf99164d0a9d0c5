"""The Captions step: each prepared image beside its caption, the exact prompts the caption makes,
warnings as it is typed; captions written by a model for the images without one; bulk edits."""

import random
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from ti_tui.dataset.captions import Caption, caption_problems, captions_of, clear_caption_file, read_caption_file, write_caption_file
from ti_tui.dataset.files import list_image_files
from ti_tui.errors import UserError
from ti_tui.prompts import TagOptions, build_prompt, load_templates
from ti_tui.tui.screens.step import StepScreen
from ti_tui.tui.widgets.picture import Picture
from ti_tui.tui.widgets.typing_input import TypingInput

GUIDANCE = (
    "Describe what varies: place, clothes, light, pose. Leave out what the word should learn (the face, the "
    "character, the style), so that the word carries it. Below: the exact prompts training makes of it. Next: Token."
)
SAVE_AFTER_SECONDS = 0.6  # of no typing
SHOWN_PROMPTS = 3


class CaptionEditor(TypingInput):
    """One image's caption: `image` and the text typed for it change together, so a save always writes the
    text to the image it was typed for. Enter and the arrows go to another image, in typing order as every
    editing key of a TypingInput."""

    BINDINGS = [
        Binding("enter,down", "screen.move(1)", "Next image", show=False, id="captions.next-image"),
        Binding("up", "screen.move(-1)", "Previous image", show=False, id="captions.previous-image"),
    ]

    def __init__(self, **options):
        super().__init__(**options)
        self.image: Path | None = None
        self.saved = ""  # the caption on disk, as last read or written

    def show(self, image: Path, caption: str) -> None:
        self.image, self.saved = image, caption
        with self.prevent(Input.Changed):
            self.value = caption
        self.cursor_position = len(caption)  # at the end: a new value keeps the previous caption's column


class CaptionsScreen(StepScreen):
    STEP = "captions"
    GUIDANCE = GUIDANCE
    CSS_PATH = "captions.tcss"
    AUTO_FOCUS = "#caption"
    BINDINGS = [
        Binding("enter", "edit", "Edit caption", show=False, id="captions.edit"),
        Binding(
            "escape", "leave_field", "Image list", tooltip="Leave the caption for the image list and the step's keys", id="step.leave-field"
        ),
        Binding(
            "a", "auto_caption(False)", "Caption rest", tooltip="Caption the images without a caption file", id="captions.caption-the-rest"
        ),
        Binding("A", "auto_caption(True)", "Caption all", key_display="A", id="captions.caption-all"),
        Binding("b", "bulk", "Bulk edit", id="captions.bulk-edit"),
        Binding("c", "stop_captioning", "Stop captioning", id="captions.stop-captioning"),
    ]
    captioning = reactive(None, bindings=True)  # the running captioner, while one runs: a and b wait, c stops it

    @dataclass
    class Captioned(Message):
        done: int
        total: int
        image: str
        caption: str | None

    @dataclass
    class CaptioningEnded(Message):
        text: str
        severity: str = "information"

    def __init__(self):
        super().__init__()
        self.images: list[Path] = []
        self.captions: dict[Path, Caption] = {}
        self.save_timer = None

    def compose_body(self) -> ComposeResult:
        yield Static("", id="verdict", markup=False)
        yield ProgressBar(id="progress", show_eta=False)
        with Horizontal(id="captions-and-editor"):
            yield OptionList(id="captions")
            with Vertical(id="editor"):
                yield Picture(id="picture")
                with Vertical(id="caption-field"):
                    yield Static("", id="caption-title", markup=False)
                    yield CaptionEditor(id="caption", placeholder="what varies in this image: place, clothes, light, pose", compact=True)
                yield Static("", id="prompts", markup=False)
                yield Static("", id="warnings", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#progress", ProgressBar).display = False
        self.load_images()

    def on_screen_resume(self) -> None:
        if self.focused is None and self.images:  # AUTO_FOCUS skips a terminal in the background
            self.editor.focus()

    @property
    def editor(self) -> CaptionEditor:
        return self.query_one("#caption", CaptionEditor)

    def label(self, image: Path) -> str:
        return f"{image.stem}  {self.captions[image].shown()}"

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "leave_field":
            return self.focused is self.editor
        if action == "stop_captioning":
            return self.captioning is not None
        if action in ("auto_caption", "bulk"):
            return None if self.captioning is not None or not self.images else True
        return True

    def load_images(self) -> None:
        """The prepared images, each caption read anew; the image being edited stays open."""
        self.save_now()  # before the captions are read, or the screen would show what was on disk before it
        keep = self.editor.image
        project = self.app.project
        self.images = list_image_files(project.prepared_dir)
        self.captions = captions_of(self.images, project.prepared_dir, project.settings.training.captions_from_file_names)
        listing = self.query_one("#captions", OptionList)
        listing.clear_options()
        listing.add_options(Option(Content(self.label(image)), id=image.name) for image in self.images)
        self.show_verdict()
        if not self.images:
            self.query_one("#captions-and-editor").display = False
            return
        self.query_one("#captions-and-editor").display = True
        index = self.images.index(keep) if keep in self.images else 0
        self.open_image(self.images[index], reread=True)
        with listing.prevent(OptionList.OptionHighlighted):
            listing.highlighted = index

    def show_verdict(self) -> None:
        verdict = self.query_one("#verdict", Static)
        if not self.images:
            verdict.update("No prepared images yet: prepare them on the Images step (1, then p) first.")
            return
        missing = sum(1 for caption in self.captions.values() if not caption.text)
        named = sum(1 for caption in self.captions.values() if caption.from_file_name and caption.text)
        by_name = f" ({named} from file names, which a replaces)" if named else ""
        verdict.update(
            f"{len(self.images)} prepared images; "
            + (f"{missing} without a caption (Esc, a: caption them){by_name}." if missing else f"each has a caption{by_name}.")
        )

    # One image's caption -----------------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#captions")
    def highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_index == event.option_list.highlighted:  # not one the list has since moved on from
            self.open_image(self.images[event.option_index])

    @on(OptionList.OptionSelected, "#captions")
    def selected(self) -> None:
        self.action_edit()

    def open_image(self, image: Path, reread: bool = False) -> None:
        """Show `image` and its caption in the editor, once the caption being left is written."""
        editor = self.editor
        if image == editor.image and not reread:
            return
        self.save_now()
        caption = self.captions[image]
        editor.show(image, "" if caption.from_file_name else caption.text)
        self.query_one("#picture", Picture).show(image)
        self.show_prompts(editor.value)

    def action_move(self, offset: int) -> None:
        """To the image `offset` away, at once: the keys typed next belong to it."""
        if not self.images:
            return
        current = self.images.index(self.editor.image) if self.editor.image in self.images else 0
        index = max(0, min(len(self.images) - 1, current + offset))
        self.open_image(self.images[index])
        listing = self.query_one("#captions", OptionList)
        with listing.prevent(OptionList.OptionHighlighted):
            listing.highlighted = index

    def action_edit(self) -> None:
        self.editor.focus()

    def action_leave_field(self) -> None:
        self.query_one("#captions", OptionList).focus()

    @on(Input.Changed, "#caption")
    def typed(self) -> None:
        self.show_prompts(self.editor.value)  # the message may come after a move to another image: show what is there
        if self.save_timer is not None:
            self.save_timer.stop()
        self.save_timer = self.set_timer(SAVE_AFTER_SECONDS, self.save_now)

    def save_now(self) -> None:
        """Write the caption being edited to its image, if it changed; captions are the user's files, not settings."""
        editor = self.editor
        image, text = editor.image, editor.value
        if image is None or text.strip() == editor.saved.strip():
            return
        try:
            if text.strip():
                write_caption_file(image, text)
            else:  # cleared: no caption file, so that the file name's words (where they are on) come back
                clear_caption_file(image)
        except OSError as error:
            self.notify(f"{image.name}'s caption could not be saved: {error.strerror}", severity="error", markup=False)
            return
        editor.saved = read_caption_file(image) or ""
        project = self.app.project
        self.captions |= captions_of([image], project.prepared_dir, project.settings.training.captions_from_file_names)
        index = self.images.index(image)
        self.query_one("#captions", OptionList).replace_option_prompt_at_index(index, Content(self.label(image)))
        self.show_verdict()
        self.app.refresh_state()

    def flush_edits(self) -> None:
        super().flush_edits()
        self.save_now()

    def show_prompts(self, caption: str) -> None:
        """The prompts training makes of this caption (one draw of each template line), and what is wrong with it.
        Nothing typed yet for an image captioned by its file name: the file name's words."""
        image = self.editor.image
        named = self.captions.get(image)
        title = f"Caption of {image.stem} (Enter: the next image)" if image else ""
        if not caption and named is not None and named.from_file_name and named.text:
            caption, title = named.text, f"Caption of {image.stem} (its file name's words)"
        self.query_one("#caption-title", Static).update(title)
        project = self.app.project
        settings = project.settings
        training = settings.training
        try:
            templates = load_templates(training.template, project.root)
        except UserError as error:
            self.query_one("#prompts", Static).update(str(error))
            return
        options = TagOptions(training.shuffle_tags, training.keep_tags, training.tag_dropout)
        draws = random.Random(training.seed)
        prompts = [build_prompt(line, settings.token.trigger, caption, options, draws) for line in templates[:SHOWN_PROMPTS]]
        more = f"\n  ... and {len(templates) - SHOWN_PROMPTS} more" if len(templates) > SHOWN_PROMPTS else ""
        self.query_one("#prompts", Static).update("Training prompts:\n" + "\n".join(f"  {prompt}" for prompt in prompts) + more)
        problems = caption_problems(caption, settings.token.trigger, settings.token.init_text, training.template)
        self.query_one("#warnings", Static).update("\n".join(f"! {problem}" for problem in problems))

    def settings_reloaded(self, project) -> None:
        self.load_images()  # training.captions_from_file_names may have changed

    # Captions by a model -----------------------------------------------------------------------

    def action_auto_caption(self, everything: bool) -> None:
        from ti_tui.dataset.captioner import in_local_cache
        from ti_tui.tui.screens.dialogs import AskPath, Confirm

        self.save_now()
        # The images with no caption file, those captioned by their file name too: a model's words say more.
        targets = self.images if everything else [image for image in self.images if read_caption_file(image) is None]
        if not targets:
            self.notify("Every image has a caption; A captions them all anew.")
            return

        def model_chosen(model: Path | str | None) -> None:
            if model is not None:
                self.app.services.memory.remember_value("captioner", str(model))
                self.start_captioning(model, targets, everything)

        def confirmed(yes: bool) -> None:
            if yes:
                ask_model()

        def ask_model() -> None:
            remembered = self.app.services.memory.value("captioner") or ""
            self.app.push_screen(
                AskPath(
                    "The captioning model (BLIP): its folder, or its Hugging Face id if it is in the local cache, "
                    "such as Salesforce/blip-image-captioning-large:",
                    remembered,
                    title="Captioning model",
                    other=("a Hugging Face id in the local cache", in_local_cache),
                ),
                model_chosen,
            )

        if everything:
            self.app.push_screen(Confirm(f"Caption all {len(targets)} images anew, replacing the captions you wrote or edited?"), confirmed)
        else:
            ask_model()

    def start_captioning(self, model: Path | str, targets: list[Path], overwrite: bool) -> None:
        self.captioning = _Captioning()
        progress = self.query_one("#progress", ProgressBar)
        progress.update(total=len(targets), progress=0)
        progress.display = True
        self.run_captioner(self.captioning, str(model), targets, overwrite)

    @work(thread=True, exit_on_error=False, exclusive=True, group="caption")
    def run_captioner(self, captioning: "_Captioning", model: str, targets: list[Path], overwrite: bool) -> None:
        written = 0
        try:
            for progress in self.app.services.caption(model, targets, overwrite, on_start=captioning.started):
                written += progress.caption is not None and not progress.kept
                self.post_message(self.Captioned(progress.done, progress.total, progress.image, progress.caption))
        except UserError as error:
            if not captioning.stopped:
                self.post_message(self.CaptioningEnded(str(error), "error"))
                return
        if captioning.stopped:
            self.post_message(self.CaptioningEnded(f"Stopped; the {written} caption(s) written so far are kept.", "warning"))
        else:
            self.post_message(self.CaptioningEnded(f"Wrote {written} caption(s) for {len(targets)} image(s)."))

    def action_stop_captioning(self) -> None:
        if self.captioning is not None:
            self.captioning.stop()

    @on(Captioned)
    def show_captioned(self, message: Captioned) -> None:
        self.query_one("#progress", ProgressBar).update(total=message.total, progress=message.done)
        self.query_one("#verdict", Static).update(f"Captioning {message.done} of {message.total}: {message.image} (c stops)")

    def on_worker_state_changed(self, event) -> None:
        super().on_worker_state_changed(event)
        if event.worker.group == "caption" and event.state.name == "ERROR":
            self.post_message(self.CaptioningEnded("Captioning stopped on an error; the captions written are kept.", "error"))

    def on_unmount(self) -> None:
        if self.captioning is not None:
            self.captioning.stop()  # leaving the step ends the captioner's process

    @on(CaptioningEnded)
    def captioning_ended(self, message: CaptioningEnded) -> None:
        self.save_now()  # what was typed while the model wrote
        self.captioning = None
        self.query_one("#progress", ProgressBar).display = False
        self.notify(message.text, severity=message.severity, markup=False, timeout=8)
        self.load_images()
        self.app.refresh_state()

    # Bulk edits --------------------------------------------------------------------------------

    def action_bulk(self) -> None:
        from ti_tui.tui.screens.bulk_edit import BulkEditScreen

        self.save_now()

        def edited(changed: list[str] | None) -> None:
            if changed is not None:
                self.notify(f"Changed {len(changed)} caption(s); the earlier ones are in prepared/caption-history/.", markup=False)
                self.load_images()
                self.app.refresh_state()

        project = self.app.project
        self.app.push_screen(
            BulkEditScreen(project.prepared_dir, self.captions, project.settings.training.captions_from_file_names), edited
        )


class _Captioning:
    """The captioner's helper process, so that a key can stop it mid-image."""

    def __init__(self):
        self.process = None
        self.stopped = False

    def started(self, process) -> None:
        self.process = process
        if self.stopped:
            process.kill()

    def stop(self) -> None:
        self.stopped = True
        if self.process is not None and self.process.poll() is None:
            self.process.kill()

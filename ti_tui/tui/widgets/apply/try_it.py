"""The Apply step's try-it: the prompt rendered with the chosen checkpoint on the model typed, before the word is
shared. Rendering needs torch, so a helper process does it (`Services.generate`) and says what it is doing
as it goes: that, the time it has taken, then the image, or what went wrong in its own words.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, Label, Static
from textual.worker import Worker, WorkerState

from ti_tui.errors import UserError
from ti_tui.paths import shown_path
from ti_tui.sd.tiny import NOISE_NOTICE
from ti_tui.settings import BUILTIN_TINY
from ti_tui.tui.widgets.apply import sentence
from ti_tui.tui.widgets.path_input import PathInput
from ti_tui.tui.widgets.picture import Picture
from ti_tui.tui.widgets.typing_input import TypingInput

if TYPE_CHECKING:
    from ti_tui.runs.directory import Checkpoint
    from ti_tui.usecases.generate_helper import GenerationProgress

TRY_MODEL = "apply-model:"  # + the project's folder: the model last tried, remembered between sessions


class TryPanel(Vertical):
    rendering: reactive[threading.Event | None] = reactive(None, bindings=True)  # the render going on; set it to stop it

    @dataclass
    class Progress(Message):
        """What the helper said it is doing, for the render `render`."""

        render: threading.Event
        progress: GenerationProgress

    @dataclass
    class Rendered(Message):
        """The images the render `render` wrote (`problem`: why there are none)."""

        render: threading.Event
        paths: list[Path]
        problem: str = ""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.checkpoint: Checkpoint | None = None  # the one tried
        self.has_checkpoint: bool | None = None  # None: not known yet
        self.tried = False  # whether a render was asked for: its outcome stays on screen
        self.render_started = 0.0
        self.render_words = ""  # where it renders
        self.doing = ""  # what the helper last said it is doing, as a line of its own
        self.prompt_note = ""  # a word on the prompt, as a line of its own
        self.rendered_words = ""
        self.noise = False  # whether the render is on builtin:tiny, whose weights are random
        self.render_timer = None
        self.render_worker: Worker | None = None  # the latest render's, whose failure frees t

    def compose(self) -> ComposeResult:
        project = self.app.project
        with Horizontal(classes="field-row"):
            yield Label("Model", classes="row-title", markup=False)
            remembered = self.app.services.memory.value(TRY_MODEL + os.fspath(project.root)) or ""
            placeholder = f"the project's, {project.settings.model.base}"
            yield PathInput(remembered, id="model", placeholder=placeholder, compact=True)
        with Horizontal(classes="field-row"):
            yield Label("Prompt", classes="row-title", markup=False)
            yield TypingInput(project.settings.xy.prompt, id="prompt", compact=True)
        yield Static("", id="render-state", markup=False)
        yield Picture(id="picture")
        yield Static("", id="image-path", markup=False)

    def on_mount(self) -> None:
        self.show_hint()

    def on_unmount(self) -> None:
        if self.rendering is not None:
            self.rendering.set()  # the helper process ends with the step

    def on_worker_state_changed(self, event) -> None:
        self.app.report_failure(event)
        if event.state == WorkerState.ERROR and event.worker is self.render_worker:
            self.end_render()  # t renders again once the failure is said
            self.query_one("#render-state", Static).update("The render failed; t tries again.")

    def settings_reloaded(self, project) -> None:
        self.query_one("#prompt", Input).value = project.settings.xy.prompt

    def use_checkpoint(self, checkpoint: Checkpoint | None) -> None:
        """The checkpoint a render tries; None: there is none, and t says so."""
        self.checkpoint = checkpoint
        self.has_checkpoint = checkpoint is not None
        if not self.has_checkpoint or not self.tried:
            self.show_hint()

    def show_hint(self) -> None:
        state = self.query_one("#render-state", Static)
        state.set_class(False, "-problem")
        if self.has_checkpoint is False:
            state.update("Nothing to try yet: no checkpoint.")
        else:
            xy = self.app.project.settings.xy
            state.update(f"t renders the prompt with [xy]'s seed {xy.seed}, {xy.sampling_steps} steps, CFG {xy.cfg_scale:g}.")

    # Rendering --------------------------------------------------------------------------------------

    @on(Input.Submitted, "#model, #prompt")
    def try_it(self) -> None:
        if not self.has_checkpoint:
            self.notify("There is no checkpoint to try yet.", severity="warning")
            return
        if self.rendering is not None:
            self.notify("Still rendering the last one; x stops it.")
            return
        prompt = self.query_one("#prompt", Input).value.strip()
        if not prompt:
            self.notify("Type a prompt first; [name] in it becomes the word.", severity="warning", markup=False)
            return
        project = self.app.project
        model = self.query_one("#model", Input).value.strip()
        self.app.services.memory.remember_value(TRY_MODEL + os.fspath(project.root), model)
        self.tried = True
        self.render_started = time.monotonic()
        on_model = f"on {Path(model).name or model}" if model else f"on the project's model, {project.settings.model.base}"
        step = f"Step {self.checkpoint.step}" if self.checkpoint is not None else "The chosen checkpoint"
        self.rendered_words = f"{step} {on_model}, seed {project.settings.xy.seed}"
        self.noise = (model or project.settings.model.base) == BUILTIN_TINY
        unused = (
            ""
            if "[name]" in prompt or project.settings.token.trigger in prompt
            else "\nThe prompt has no [name], so the word is not in it."
        )
        self.render_words = f"Rendering {on_model}"
        self.doing = ""
        self.prompt_note = unused
        self.query_one("#render-state", Static).set_class(False, "-problem")
        self.rendering = threading.Event()
        self.tick()
        self.render_timer = self.set_interval(1.0, self.tick)
        self.render_worker = self.render_image(project.root, prompt, model, self.rendering)

    def tick(self) -> None:
        seconds = int(time.monotonic() - self.render_started)
        self.query_one("#render-state", Static).update(f"{self.render_words} ({seconds} s; x stops it)...{self.doing}{self.prompt_note}")

    @work(thread=True, exit_on_error=False, group="render")
    def render_image(self, project_root: Path, prompt: str, model: str, render: threading.Event) -> None:
        def said(progress: GenerationProgress) -> None:
            self.post_message(self.Progress(render, progress))

        try:
            paths = self.app.services.generate(project_root, prompt, model, cancel=render, on_progress=said)
        except UserError as error:
            self.post_message(self.Rendered(render, [], sentence(str(error))))
            return
        except OSError as error:
            self.post_message(self.Rendered(render, [], f"The renderer could not be started: {error.strerror or error}."))
            return
        if not render.is_set():
            self.post_message(self.Rendered(render, paths, "" if paths else "The renderer wrote no image."))

    @on(Progress)
    def progressed(self, message: Progress) -> None:
        if message.render is not self.rendering:
            return  # from a render stopped since
        progress = message.progress
        self.doing = "\nLoading the model..." if progress.doing == "loading" else f"\nDrawing image {progress.image} of {progress.of}..."
        self.tick()

    @on(Rendered)
    def rendered(self, message: Rendered) -> None:
        if message.render is not self.rendering:
            return
        self.end_render()
        state = self.query_one("#render-state", Static)
        state.set_class(bool(message.problem), "-problem")
        if message.problem:
            state.update(message.problem)
            return
        path = message.paths[0]
        state.update(f"{self.rendered_words}:")
        self.query_one("#picture", Picture).show(path)
        noise = f"\n{NOISE_NOTICE.split(' (')[0]}." if self.noise else ""
        self.query_one("#image-path", Static).update(f"{shown_path(path)}{noise}")

    def stop(self) -> None:
        if self.rendering is not None:
            self.rendering.set()
            self.end_render()
            self.query_one("#render-state", Static).update("Stopped; t renders again.")

    def end_render(self) -> None:
        self.rendering = None
        if self.render_timer is not None:
            self.render_timer.stop()
            self.render_timer = None

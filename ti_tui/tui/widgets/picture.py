"""An image drawn in the terminal: Kitty graphics or Sixel where the terminal has them, half-blocks elsewhere.

`TI_TUI_IMAGES` forces one way (tgp, sixel, halfcell, unicode) or none (off). The picture is read
and shrunk in a worker; a file that cannot be read is shown as a line saying so, never an error.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.containers import Container
from textual.message import Message
from textual.widgets import Static

PROTOCOL_VARIABLE = "TI_TUI_IMAGES"
PROTOCOLS = ("auto", "tgp", "sixel", "halfcell", "unicode", "off")
SHRINK_TO = (256, 256)  # a terminal shows fewer pixels than this; smaller images draw faster


def picture_class():
    """The textual-image widget class for `TI_TUI_IMAGES`, or None for no pictures."""
    choice = os.environ.get(PROTOCOL_VARIABLE, "auto").strip().lower()
    if choice == "off" or choice not in PROTOCOLS:
        return None
    from textual_image import widget

    return {
        "auto": widget.Image,
        "tgp": widget.TGPImage,
        "sixel": widget.SixelImage,
        "halfcell": widget.HalfcellImage,
        "unicode": widget.UnicodeImage,
    }[choice]


class Picture(Container):
    DEFAULT_CSS = """
    Picture {
        height: 1fr;
        width: 1fr;
        align: center middle;
        overflow: hidden;
    }
    Picture > .picture {
        width: auto;
        height: 1fr;
    }
    Picture > Static {
        color: $text-muted;
        width: 1fr;
        height: auto;
    }
    """

    @dataclass
    class Loaded(Message):
        picture: "Picture"
        path: Path | None
        image: object  # the decoded picture, None when it could not be read
        problem: str

    def __init__(self, caption: str = "", **kwargs):
        super().__init__(**kwargs)
        self.caption = caption
        self.path: Path | None = None

    def compose(self) -> ComposeResult:
        drawing = picture_class()
        if drawing is not None:
            yield drawing(classes="picture")
        yield Static(self.caption, markup=False, classes="picture-note")

    def show(self, path: Path | None) -> None:
        """Draw the image at `path` (None: nothing)."""
        self.path = path
        self.load(path)

    @work(thread=True, exit_on_error=False, exclusive=True, group="picture")
    def load(self, path: Path | None) -> None:
        if path is None:
            self.post_message(self.Loaded(self, None, None, ""))
            return
        from ti_tui.dataset.reading import ImageProblem, open_image

        try:
            image = open_image(path, "#ffffff")
            image.thumbnail(SHRINK_TO)
            self.post_message(self.Loaded(self, path, image, ""))
        except ImageProblem as problem:
            self.post_message(self.Loaded(self, path, None, str(problem)))
        except OSError as error:
            self.post_message(self.Loaded(self, path, None, f"{path.name} cannot be read: {error.strerror}"))

    def on_worker_state_changed(self, event) -> None:
        self.app.report_failure(event)

    def on_picture_loaded(self, message: Loaded) -> None:
        if message.picture is not self or message.path != self.path:
            return  # an older request, overtaken
        message.stop()
        drawings = self.query(".picture")
        for drawing in drawings:
            drawing.image = message.image
            drawing.display = message.image is not None
        note = self.query_one(".picture-note", Static)
        if message.problem:
            note.update(f"{message.path.name} cannot be drawn: {message.problem}")
        elif message.image is not None and not drawings:
            note.update(f"{message.path.name} ({PROTOCOL_VARIABLE}=off: no pictures)")
        else:
            note.update(self.caption if message.path is not None else "")

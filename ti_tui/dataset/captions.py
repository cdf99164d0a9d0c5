"""Captions: `.txt` files beside the prepared images, as other trainers read them, and bulk edits.

A caption should describe what varies from image to image (place, clothes, light, pose), not what
the embedding is to learn: a word for that belongs to the trigger, and captions that name it
teach the model to lean on the word instead.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from ti_tui.dataset.files import caption_path, list_image_files
from ti_tui.fsutil import atomic_write_text


@dataclass(frozen=True)
class CaptionWarning:
    image: str
    message: str


def read_caption_file(image: Path) -> str | None:
    path = caption_path(image)
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def write_caption_file(image: Path, text: str) -> None:
    atomic_write_text(caption_path(image), tidy(text) + "\n")


def tidy(text: str) -> str:
    """One line, single spaces, no stray or doubled commas."""
    text = " ".join(text.split())
    text = re.sub(r"\s*,\s*(,\s*)*", ", ", text)
    return text.strip(" ,")


def _word(word: str) -> re.Pattern:
    return re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w-])", re.IGNORECASE)


def edit_captions(folder: Path, edit) -> list[str]:
    """Apply `edit(text) -> text` to every caption in `folder`; returns the images whose caption changed."""
    changed = []
    for image in list_image_files(folder):
        before = read_caption_file(image) or ""
        after = tidy(edit(before))
        if after != before:
            write_caption_file(image, after)
            changed.append(image.name)
    return changed


def replacing(old: str, new: str):
    return lambda text: text.replace(old, new)


def prepending(words: str):
    return lambda text: f"{words}, {text}" if text else words


def appending(words: str):
    return lambda text: f"{text}, {words}" if text else words


def removing_word(word: str):
    return lambda text: _word(word).sub("", text)


def caption_warnings(folder: Path, trigger: str, init_text: str, template: str) -> list[CaptionWarning]:
    """Captions that name the trigger although the template adds it, or that describe what is to be learned."""
    warnings = []
    learned = [word for word in re.findall(r"[\w-]+", init_text.lower()) if len(word) > 2]
    for image in list_image_files(folder):
        text = read_caption_file(image)
        if text is None:
            continue
        if trigger and _word(trigger).search(text) and template != "filewords":
            warnings.append(
                CaptionWarning(image.name, f"the caption names the trigger {trigger!r}, which the template already adds")
            )
        described = [word for word in learned if _word(word).search(text)]
        if described:
            warnings.append(
                CaptionWarning(
                    image.name,
                    f"the caption says {', '.join(described)!s}, which is what the embedding should learn: "
                    "leave it out so the trigger carries it",
                )
            )
    return warnings

"""Captions: `.txt` files beside the prepared images, as other trainers read them, and bulk edits.

A caption should describe what varies from image to image (place, clothes, light, pose), not what
the embedding is to learn: a word for that belongs to the trigger, and captions that name it
teach the model to lean on the word instead.

An image with no `.txt` takes its words from its file name, as the web UI's [filewords] does
("01-red car.jpg": "red car"), unless the project turns that off.
"""

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ti_tui.dataset.files import caption_path, list_image_files
from ti_tui.dataset.prepare import prepared_copies
from ti_tui.errors import UserError
from ti_tui.findings import Finding
from ti_tui.fsutil import atomic_write_text
from ti_tui.prompts import CAPTION_ONLY

# Emphasis as prompts write it, "(red:1.2)", "((red))", "[red]": weighed when rendering, not in training.
EMPHASIS = re.compile(r"\([^()]*:\s*[+-]?[\d.]+\s*\)|\(\([^()]+\)\)|\[[^\[\]]+\]")
# How cameras, phones and apps begin the names of the pictures they take; what follows is digits and codes.
CAMERA_PREFIX = re.compile(
    r"(img|_mg|mvimg|pxl|dsc[nf]?|dji|gopr|gh\d\d|p\d{3}|image|photo|picture|signal|whatsapp image)(?![^\W\d_])", re.IGNORECASE
)
# What follows: digits, separators, and the codes phones add ("-WA0001", ".MP", " at 12.00.00 PM").
CAMERA_CODES = re.compile(r"[\d\s._()-]*(?:(?:wa|mp|at|am|pm)(?![^\W\d_])[\d\s._()-]*)*", re.IGNORECASE)
SCREENSHOT = re.compile(r"screen ?shot", re.IGNORECASE)
HISTORY = "caption-history"  # each bulk edit keeps the captions it changed, as they were, in here


def read_caption_file(image: Path) -> str | None:
    """The caption beside `image` on one line, or None when it has none."""
    path = caption_path(image)
    try:
        # utf-8-sig: Windows editors start UTF-8 files with a byte-order mark that must not reach the prompt.
        return " ".join(path.read_text(encoding="utf-8-sig").split())
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise UserError(f"the caption {path} is not UTF-8 text; save it as UTF-8 in an editor") from None
    except OSError as error:
        raise UserError(f"the caption {path} cannot be read: {error.strerror}") from None


@dataclass(frozen=True)
class Caption:
    text: str
    from_file_name: bool = False  # no .txt beside the image: these are the words of its file name

    def shown(self) -> str:
        """How a list of images shows it."""
        if self.from_file_name and self.text:
            return f"(file name) {self.text}"  # the mark first: a narrow list cuts a caption's end
        return self.text or "(no caption)"


def file_name_words(name: str) -> str:
    """The words of an image's file name, much as the web UI takes them: without the extension and without the
    numbers, dates and separators it starts with ("2023-05-01 portrait.png": "portrait"; the web UI drops digits
    and dashes there, and keeps a leading "_" or "."). A name a camera, a phone or a screenshot gave
    ("IMG_1234", "PXL_20230501_123456.MP") says nothing of the picture: it gives no words."""
    stem = Path(name).stem
    if _camera_name(stem):
        return ""
    return " ".join(re.sub(r"^[\d\s._-]+", "", stem).split())


def _camera_name(stem: str) -> bool:
    if SCREENSHOT.match(stem):
        return True
    prefix = CAMERA_PREFIX.match(stem)
    return prefix is not None and CAMERA_CODES.fullmatch(stem[prefix.end() :]) is not None


def image_caption(image: Path, named: str, from_file_name: bool) -> Caption:
    """The caption of `image`: its `.txt`, else (when `from_file_name`) the words of the file name `named`,
    the name of the original a prepared image was made from."""
    text = read_caption_file(image)
    if text is not None or not from_file_name:
        return Caption(text or "")
    return Caption(file_name_words(named), from_file_name=True)


def captions_of(images: list[Path], prepared_dir: Path, from_file_name: bool) -> dict[Path, Caption]:
    """Each image's caption; a prepared image without one takes the words of its original's file name."""
    made_from = {copy: original for original, copy in prepared_copies(prepared_dir).items()}
    return {image: image_caption(image, made_from.get(image, image).name, from_file_name) for image in images}


def write_caption_file(image: Path, text: str) -> None:
    atomic_write_text(caption_path(image), tidy(text) + "\n")


def clear_caption_file(image: Path) -> None:
    """No caption file beside `image`: it is then captioned by its file name again, where that is on."""
    caption_path(image).unlink(missing_ok=True)


def tidy(text: str) -> str:
    """One line, single spaces, no stray or doubled commas."""
    text = " ".join(text.split())
    text = re.sub(r"\s*,\s*(,\s*)*", ", ", text)
    return text.strip(" ,")


def _word(word: str) -> re.Pattern:
    return re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w-])", re.IGNORECASE)


def edit_captions(folder: Path, edit, from_file_name: bool) -> list[str]:
    """Apply `edit(text) -> text` to every caption in `folder`, those taken from file names too (which are then
    written to a caption file); returns the images whose caption changed.

    The caption files it changes are first copied, as they were, into `caption-history/<time>/`.
    """
    changes = planned_edits(captions_of(list_image_files(folder), folder, from_file_name), edit)
    if changes:
        kept = folder / HISTORY / time.strftime("%Y%m%d-%H%M%S")
        kept.mkdir(parents=True, exist_ok=True)
        for image in changes:
            if caption_path(image).is_file():
                shutil.copy2(caption_path(image), kept / caption_path(image).name)
    for image, (_, after) in changes.items():
        write_caption_file(image, after)
    return [image.name for image in changes]


def planned_edits(captions: dict[Path, Caption], edit) -> dict[Path, tuple[str, str]]:
    """(before, after) for each caption that `edit(text) -> text` would change, both tidied."""
    planned = {}
    for image, caption in captions.items():
        before = tidy(caption.text)
        after = tidy(edit(before))
        if after != before:
            planned[image] = (before, after)
    return planned


def replacing(old: str, new: str):
    """Replace a word or phrase, whole words only: "man" leaves "woman" and "human" alone."""
    if not old.strip():
        raise UserError("a replacement needs the words to look for; an empty text would change every caption")
    return lambda text: _word(old.strip()).sub(new, text)


def prepending(words: str):
    return lambda text: f"{words}, {text}" if text else words


def appending(words: str):
    return lambda text: f"{text}, {words}" if text else words


def removing_word(word: str):
    if not word.strip():
        raise UserError("removing needs the word to remove")
    return lambda text: _word(word.strip()).sub("", text)


def caption_problems(text: str | None, trigger: str, init_text: str, template: str) -> list[str]:
    """What is wrong with one caption, in words: empty, naming the trigger the template adds, or
    naming what the embedding is to learn."""
    if not text:
        return ["the caption is empty: the prompt then says nothing of what varies in this image"]
    problems = []
    emphasis = EMPHASIS.search(text)
    if emphasis:
        problems.append(
            f"{emphasis.group()} is emphasis, which training does not weigh: its brackets and number become words of "
            "the prompt; write the words alone"
        )
    if trigger and _word(trigger).search(text) and template != CAPTION_ONLY:
        problems.append(f"the caption names the trigger {trigger!r}, which the template already adds")
    learned = [word for word in re.findall(r"[\w-]+", init_text.lower()) if len(word) > 2]
    described = [word for word in learned if _word(word).search(text)]
    if described:
        problems.append(
            f"the caption says {', '.join(described)}, which is what the embedding should learn: leave it out so the trigger carries it"
        )
    return problems


def caption_warnings(captions: dict[Path, Caption], trigger: str, init_text: str, template: str) -> list[Finding]:
    """The captions' problems, image by image (`caption_problems`)."""
    return [
        Finding("warning", problem, check="caption", subjects=(image.name,))
        for image, caption in captions.items()
        for problem in caption_problems(caption.text, trigger, init_text, template)
    ]

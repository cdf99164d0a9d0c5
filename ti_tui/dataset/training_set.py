"""The images a run trains on, with their captions, read at the training size.

Prepared images (in `prepared/`, cropped with care by the Prepare step) are used when there are
any; until then the originals are used, centre-cropped to a square in memory. Either way the
files on disk are only read.
"""

from dataclasses import dataclass
from pathlib import Path

from ti_tui.dataset.captions import Caption, captions_of
from ti_tui.dataset.checks import TAKE_IT_OUT
from ti_tui.dataset.files import list_image_files
from ti_tui.dataset.prepare import prepared_copies
from ti_tui.dataset.reading import ImageProblem, check_readable
from ti_tui.findings import Finding, Fix


@dataclass(frozen=True)
class TrainingItem:
    image: Path
    caption: str


def training_items(originals: list[Path], prepared_dir: Path, from_file_name: bool) -> list[TrainingItem]:
    """The prepared images once there are any, else the originals, each with its caption."""
    return [TrainingItem(image, caption.text) for image, caption in training_captions(originals, prepared_dir, from_file_name).items()]


def training_captions(originals: list[Path], prepared_dir: Path, from_file_name: bool) -> dict[Path, Caption]:
    """The images a run trains on (the prepared ones once there are any, else the originals) and their captions."""
    return captions_of(list_image_files(prepared_dir) or originals, prepared_dir, from_file_name)


def unreadable_images(items: list[TrainingItem], prepared_dir: Path) -> list[Finding]:
    """The training images that cannot be decoded, each said so that the user finds the file to mend.

    A prepared copy is named in full, with the original it was made from: preparing again makes it
    anew. An original is for the user to replace or remove.
    """
    made_from = {copy: original for original, copy in prepared_copies(prepared_dir).items()}
    findings = []
    for item in items:
        try:
            check_readable(item.image)
        except ImageProblem as problem:
            if item.image.parent == prepared_dir:
                of = f" of {made_from[item.image]}" if item.image in made_from else ""
                what = f"{item.image}, the prepared copy{of}, {problem.reason}."
                why = "Prepare the images again: a prepared copy that cannot be read is made anew from its original."
                findings.append(Finding("error", what, why, Fix("prepare"), "unreadable", (item.image.name,)))
            else:
                fix = Fix("edit-setting", "dataset.exclude")
                findings.append(Finding("error", str(problem), f"{TAKE_IT_OUT}.", fix, "unreadable", (item.image.name,)))
    return findings


def load_square_image(path: Path, size: int, background: str):
    """The image as an RGB square of `size` pixels: upright, transparency laid on `background`, centre-cropped."""
    from PIL import Image, ImageOps

    from ti_tui.dataset.reading import open_image

    image = open_image(path, background)
    if image.size == (size, size):
        return image
    return ImageOps.fit(image, (size, size), method=Image.Resampling.LANCZOS)

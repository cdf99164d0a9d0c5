"""The images a run trains on, with their captions, read at the training size.

Prepared images (in `prepared/`, cropped with care by the Prepare step) are used when there are
any; until then the originals are used, centre-cropped to a square in memory. Either way the
files on disk are only read.
"""

from dataclasses import dataclass
from pathlib import Path

from ti_tui.dataset.captions import read_caption_file
from ti_tui.dataset.files import list_image_files


@dataclass(frozen=True)
class TrainingItem:
    image: Path
    caption: str


def training_items(originals: list[Path], prepared_dir: Path) -> list[TrainingItem]:
    """The prepared images once there are any, else the originals, each with its caption."""
    images = list_image_files(prepared_dir) or originals
    return [TrainingItem(image, read_caption(image)) for image in images]


def read_caption(image: Path) -> str:
    return read_caption_file(image) or ""


def load_square_image(path: Path, size: int, background: str):
    """The image as an RGB square of `size` pixels: upright, transparency laid on `background`, centre-cropped."""
    from PIL import Image, ImageOps

    from ti_tui.dataset.reading import open_image

    image = open_image(path, background)
    if image.size == (size, size):
        return image
    return ImageOps.fit(image, (size, size), method=Image.Resampling.LANCZOS)

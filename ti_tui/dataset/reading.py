"""Opening a user's image safely and the same way everywhere: upright, RGB, transparency laid on a background.

Phone formats (HEIC/HEIF) open through the pillow-heif plugin; AVIF and WebP through Pillow itself.
Files too large to decode safely are refused before they are decoded.
"""

import re
import warnings
from pathlib import Path

from ti_tui.errors import UserError

# Pillow refuses images over twice its limit outright; over the limit it only warns, and a
# 100-megapixel photo is too big to check or prepare comfortably, so both are refused.
MAX_PIXELS = 89_478_485


class ImageProblem(UserError):
    """An image that cannot be used; the message says why in words."""


def register_phone_formats() -> None:
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return
    register_heif_opener()


def open_image(path: Path, background: str = "#ffffff"):
    """The image at `path` as an upright RGB picture; raises ImageProblem naming the file."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    register_phone_formats()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                width, height = opened.size
                if width * height > MAX_PIXELS:
                    raise ImageProblem(
                        f"{path.name} is too large to open safely ({width * height / 1e6:.0f} megapixels); "
                        "scale it down below 80 megapixels"
                    )
                image = ImageOps.exif_transpose(opened)
                image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # Pillow stops at the header, before decoding, and says how many pixels it promised.
        promised = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{int(promised.group(1)) / 1e6:.0f} megapixels" if promised else "too many pixels"
        raise ImageProblem(f"{path.name} is too large to open safely ({size}); scale it down below 80 megapixels") from None
    except UnidentifiedImageError:
        raise ImageProblem(f"{path.name} is not an image Pillow can read, whatever its name says") from None
    except OSError as error:
        if "truncated" in str(error):
            raise ImageProblem(f"{path.name} is cut short (a broken download or copy?): only part of it is there") from None
        raise ImageProblem(f"{path.name} cannot be read: {error}") from None
    except (ValueError, SyntaxError) as error:  # Pillow's decoders raise these for malformed headers
        raise ImageProblem(f"{path.name} is damaged: {error}") from None
    return as_rgb(image, background)


def as_rgb(image, background: str):
    """Colour modes normalised: CMYK, greyscale and palettes to RGB; transparent parts on `background`."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, background), rgba).convert("RGB")
    return image.convert("RGB")

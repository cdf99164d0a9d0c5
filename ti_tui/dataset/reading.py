"""Opening a user's image safely and the same way everywhere: upright, 8-bit sRGB, transparency laid on a background.

Phone formats (HEIC/HEIF) open through the pillow-heif plugin; AVIF and WebP through Pillow itself.
Very large JPEGs are decoded at a reduced size; other files too large to decode safely are refused
before they are decoded.
"""

import io
import re
import warnings
from contextlib import contextmanager
from pathlib import Path

from ti_tui.errors import UserError

# Pillow's own limit: above it an image could be a decompression bomb; above twice it, Pillow
# refuses to even read the header.
MAX_PIXELS = 89_478_485


class ImageProblem(UserError):
    """An image that cannot be used; the message is its file name, then why in words (`reason`)."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name} {reason}")
        self.reason = reason  # such as "is cut short (...)": it reads on after any name for the file


def register_phone_formats() -> None:
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return
    register_heif_opener()


def too_large(name: str, pixels: int) -> ImageProblem:
    return ImageProblem(
        name, f"is too large to open safely ({pixels / 1e6:.0f} megapixels; the limit is {MAX_PIXELS / 1e6:.0f}): save a smaller copy"
    )


def open_image(path: Path, background: str = "#ffffff"):
    """The image at `path` as an upright 8-bit sRGB picture; raises ImageProblem naming the file."""
    from PIL import ImageOps

    with _read_problems_explained(path), _opened(path) as opened:
        width, height = opened.size
        if width * height > MAX_PIXELS:
            _decode_smaller(opened, path.name)
        image = ImageOps.exif_transpose(opened)
        image.load()
    return as_rgb(image, background)


def check_readable(path: Path) -> None:
    """Decode the image, JPEGs at an eighth of their size, to find damage quickly; raises ImageProblem."""
    with _read_problems_explained(path), _opened(path) as opened:
        if opened.width * opened.height > MAX_PIXELS:
            _decode_smaller(opened, path.name)
        else:
            opened.draft("RGB", (max(1, opened.width // 8), max(1, opened.height // 8)))
        opened.load()


@contextmanager
def _opened(path: Path):
    from PIL import Image

    register_phone_formats()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # callers check the size
        with Image.open(path) as opened:
            yield opened


@contextmanager
def _read_problems_explained(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        yield
    except Image.DecompressionBombError as error:
        # Pillow stops at the header, before decoding, and says how many pixels it promised.
        promised = re.search(r"\((\d+) pixels\)", str(error))
        raise too_large(path.name, int(promised.group(1)) if promised else 2 * MAX_PIXELS) from None
    except UnidentifiedImageError:
        raise ImageProblem(path.name, "is not an image Pillow can read, whatever its name says") from None
    except OSError as error:
        if "truncated" in str(error):
            raise ImageProblem(path.name, "is cut short (a broken download or copy?): only part of it is there") from None
        raise ImageProblem(path.name, f"cannot be read: {error}") from None
    except (ValueError, SyntaxError) as error:  # Pillow's decoders raise these for malformed headers
        raise ImageProblem(path.name, f"is damaged: {error}") from None


def _decode_smaller(opened, name: str) -> None:
    """A JPEG can be decoded at a half, quarter or eighth of its size; other formats cannot."""
    width, height = opened.size
    if opened.format == "JPEG":
        for factor in (2, 4, 8):
            if (width // factor) * (height // factor) <= MAX_PIXELS:
                opened.draft("RGB", (width // factor, height // factor))
                return
    raise too_large(name, width * height)


def as_rgb(image, background: str):
    """8-bit sRGB: deep and floating-point pixels scaled down, colour profiles applied, alpha on `background`."""
    from PIL import Image

    image = _eight_bit(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, background), rgba)
    return _in_srgb(image).convert("RGB")


def _eight_bit(image):
    """16-bit and floating-point greyscale would turn white or black in Pillow's conversion; scale them first."""
    from PIL import Image

    if image.mode not in ("I", "F") and not image.mode.startswith("I;16"):
        return image
    import numpy

    values = numpy.asarray(image, dtype=numpy.float64)
    if image.mode == "F":
        top = 1.0 if values.max(initial=0.0) <= 1.0 else values.max()
    else:
        top = 65535.0 if values.max(initial=0.0) > 255 else 255.0
    scaled = numpy.clip(values / top * 255.0, 0, 255).round().astype(numpy.uint8)
    return Image.fromarray(scaled, mode="L")


def _in_srgb(image):
    """Colours as the photo meant them: a wide-gamut (Display P3, Adobe RGB) profile is converted to sRGB."""
    profile = image.info.get("icc_profile")
    if not profile or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        return ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # a broken profile: keep the pixels as they are rather than refuse the photo

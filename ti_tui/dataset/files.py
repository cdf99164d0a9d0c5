"""Finding images and their caption sidecars, by name alone (cheap enough to run while painting)."""

import os
from pathlib import Path

from ti_tui.paths import broken_link

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic", ".heif", ".avif")


def list_image_files(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files in `folder` by extension, sorted by path; hidden files are skipped."""
    return sorted(path for path in _named_as_images(folder, recursive) if path.is_file())


def named_images_without_a_file(folder: Path, recursive: bool = False) -> dict[Path, str]:
    """What in `folder` is named as an image but holds no image file to read, each with why: a symbolic link
    that loops or leads nowhere, a folder, a named pipe (which a reader would wait on for ever)."""
    unusable = {}
    for path in sorted(_named_as_images(folder, recursive)):
        kind = broken_link(path) if path.is_symlink() else None
        if kind == "loop":
            unusable[path] = "is a symbolic-link loop: it leads back to itself, so there is no image to read"
        elif kind == "missing":
            unusable[path] = f"is a symbolic link to {os.readlink(path)}, which does not exist"
        elif path.is_dir():
            unusable[path] = "is a folder, not an image file"
        elif path.exists() and not path.is_file():
            unusable[path] = "is not a plain file (a named pipe or a device), so there is no image to read"
    return unusable


def _named_as_images(folder: Path, recursive: bool):
    if not folder.is_dir():
        return
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    for path in candidates:
        if path.suffix.lower() in IMAGE_SUFFIXES and not any(part.startswith(".") for part in path.relative_to(folder).parts):
            yield path


def display_name(path: Path, folder: Path) -> str:
    """How to name an image to its owner: its path inside the image folder, so twins in subfolders differ."""
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:
        return path.name


def caption_path(image: Path) -> Path:
    """The caption sidecar of an image, as other trainers expect it: same name, `.txt`."""
    return image.with_suffix(".txt")

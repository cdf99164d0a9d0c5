"""Finding images and their caption sidecars, by name alone (cheap enough to run while painting)."""

from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic", ".heif", ".avif")


def list_image_files(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files in `folder` by extension, sorted by path; hidden files are skipped."""
    if not folder.is_dir():
        return []
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        path
        for path in candidates
        if path.is_file()
        and path.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )


def display_name(path: Path, folder: Path) -> str:
    """How to name an image to its owner: its path inside the image folder, so twins in subfolders differ."""
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:
        return path.name


def caption_path(image: Path) -> Path:
    """The caption sidecar of an image, as other trainers expect it: same name, `.txt`."""
    return image.with_suffix(".txt")

"""Importing photos into a project: copies into its images folder, the sources left as they were.

Every file is opened first; one that cannot be used (damaged, not an image, far too large, a few
pixels) is reported in words and left out, and the rest come in. Copies keep their names, and
caption files beside them come along.
"""

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ti_tui.dataset.checks import MIN_USABLE_SIDE
from ti_tui.dataset.files import IMAGE_SUFFIXES, caption_path, list_image_files, named_images_without_a_file
from ti_tui.dataset.reading import ImageProblem, open_image
from ti_tui.errors import UserError
from ti_tui.findings import Fix
from ti_tui.fsutil import file_sha256
from ti_tui.paths import broken_link_problem, file_in_the_way, resolved


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)
    already_there: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # one sentence each
    in_subfolders: int = 0  # images in folders inside the named folders, not looked at (not recursive)


def import_images(sources: list[Path], images_dir: Path, recursive: bool = False) -> ImportReport:
    report = ImportReport()
    blocker = file_in_the_way(images_dir)
    if blocker:
        raise UserError(
            f"the image folder {images_dir} cannot be made: {blocker} is a file, not a folder. Move that file away, or "
            "set dataset.images to another folder; nothing was imported",
            Fix("edit-setting", "dataset.images"),
        )
    images_dir.mkdir(parents=True, exist_ok=True)
    present = {file_sha256(path): path.name for path in list_image_files(images_dir)}
    candidates = _candidates(sources, recursive)
    for folder in (source.expanduser() for source in sources):
        report.refused += [f"{path.name} {reason}" for path, reason in named_images_without_a_file(folder, recursive).items()]
    if not recursive:
        report.in_subfolders = _images_in_subfolders(sources)
    for path in candidates:
        try:
            image = open_image(path)
        except ImageProblem as problem:
            report.refused.append(str(problem))
            continue
        if min(image.size) < MIN_USABLE_SIDE:
            report.refused.append(f"{path.name} is only {image.width}x{image.height} pixels, too small to learn from")
            continue
        digest = file_sha256(path)
        if digest in present:
            report.already_there.append(f"{path.name} (as {present[digest]})")
            continue
        name = path.name
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            name = f"{path.name}.{_format_suffix(path)}"  # an image under another name: copied so it is seen
        target = _free_name(images_dir, name)
        shutil.copy2(path, target)
        if caption_path(path).is_file() and not caption_path(target).exists():
            shutil.copy2(caption_path(path), caption_path(target))
        present[digest] = target.name
        report.imported.append(target.name)
    return report


def _candidates(sources: list[Path], recursive: bool) -> list[Path]:
    found = []
    for source in sources:
        source = source.expanduser()
        if source.is_dir():
            found += list_image_files(source, recursive)
        elif source.is_file():
            found.append(source)  # named on purpose: tried whatever its extension
        else:
            raise UserError(_why_not_a_source(source))
    return found


def _why_not_a_source(source: Path) -> str:
    resolved(source)  # a symbolic-link loop anywhere on the way is named as one
    if source.exists():
        return f"{source} is neither a file nor a folder (a pipe or a device?); name image files or folders that hold them"
    return broken_link_problem(source) or f"{source} does not exist; name image files or folders that hold them"


def _images_in_subfolders(sources: list[Path]) -> int:
    """How many images lie in folders inside the named folders: those a recursive import would take too."""
    folders = [source.expanduser() for source in sources if source.expanduser().is_dir()]
    return sum(len(list_image_files(folder, recursive=True)) - len(list_image_files(folder)) for folder in folders)


def _free_name(folder: Path, name: str) -> Path:
    target, number = folder / name, 2
    while target.exists():
        target = folder / f"{Path(name).stem}-{number}{Path(name).suffix}"
        number += 1
    return target


def _format_suffix(path: Path) -> str:
    from PIL import Image

    with Image.open(path) as opened:
        return {"JPEG": "jpg", "MPO": "jpg"}.get(opened.format, (opened.format or "png").lower())

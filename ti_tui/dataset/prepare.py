"""Preparing the training images: a square crop around the subject, at the training size.

Faces (for face projects) are centred with room above the head and some shoulders below; other
subjects are found by where the picture draws the eye (spectral-residual saliency); styles keep
the centre. Results go to `prepared/` as PNG, each with its caption beside it, and a manifest that
links every prepared image to its original. Originals are only read. An original is prepared again
only when its bytes or the preparation settings change, or when its prepared copy cannot be read.

The manifest records originals by their path inside the project (the folder that holds `prepared/`)
and by their content, so a project copied to another machine (`cp -r`, `rsync -a`, `scp -r`), where
paths and file times differ, is still prepared. It also records the originals that could not be
read, and why: preparing again would only leave them out again, so until they change they are not
"out of date" but for the user to take out of training or delete.
"""

import functools
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ti_tui.dataset.files import caption_path, display_name
from ti_tui.dataset.reading import ImageProblem, check_readable, open_image
from ti_tui.errors import UserError
from ti_tui.findings import Fix
from ti_tui.fsutil import atomic_write_bytes, atomic_write_text, file_sha256
from ti_tui.paths import file_in_the_way

MANIFEST = "manifest.json"
MANIFEST_VERSION = 2  # 2: originals by their path inside the project; 1 (still read): by full paths
RETIRED = "removed"  # prepared images whose original is gone are moved here, with their captions
FACE_CROP_WIDTHS = 3.0  # the crop is this many face widths: head, hair and some shoulders
FACE_HEIGHT_IN_CROP = 0.4  # the face's centre sits this far down the crop, leaving headroom
SALIENCY_SIZE = 64


@dataclass(frozen=True)
class CropBox:
    left: int
    top: int
    side: int

    def as_tuple(self) -> tuple[int, int, int, int]:
        return self.left, self.top, self.left + self.side, self.top + self.side


@dataclass
class PreparationReport:
    prepared: list[str] = field(default_factory=list)  # made (again) this time
    unchanged: list[str] = field(default_factory=list)
    kept_edits: list[str] = field(default_factory=list)  # edited by hand since they were prepared: left alone
    remade: list[str] = field(default_factory=list)  # prepared copies that could not be read, made again (also in `prepared`)
    retired: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    cancelled: bool = False  # stopped on request: the images not reached are as they were


def face_crop(width: int, height: int, face, resolution: int) -> CropBox:
    """A square around `face` (a FaceBox), never smaller than the training size when the image allows."""
    side = min(width, height, max(round(face.width * FACE_CROP_WIDTHS), resolution))
    centre_x, centre_y = face.centre
    return _inside(width, height, centre_x - side / 2, centre_y - side * FACE_HEIGHT_IN_CROP, side)


def salient_crop(image) -> CropBox:
    """The largest square, slid along the long side to hold the most of what stands out."""
    import numpy

    saliency = saliency_map(image)
    width, height = image.size
    side = min(width, height)
    along = saliency.sum(axis=0) if width >= height else saliency.sum(axis=1)
    positions = numpy.linspace(0, 1, len(along))
    window = side / max(width, height)
    best, best_mass = 0.0, -1.0
    for start in numpy.linspace(0, 1 - window, 33):
        mass = along[(positions >= start) & (positions <= start + window)].sum()
        if mass > best_mass:
            best, best_mass = start, mass
    offset = best * max(width, height)
    return _inside(width, height, offset if width >= height else 0, 0 if width >= height else offset, side)


def centre_crop(width: int, height: int) -> CropBox:
    side = min(width, height)
    return CropBox((width - side) // 2, (height - side) // 2, side)


def saliency_map(image):
    """Spectral residual saliency (Hou and Zhang, 2007): what the log spectrum has beyond its smooth trend."""
    import cv2
    import numpy

    grey = numpy.asarray(image.convert("L").resize((SALIENCY_SIZE, SALIENCY_SIZE)), dtype=numpy.float32)
    spectrum = numpy.fft.fft2(grey)
    log_amplitude = numpy.log(numpy.abs(spectrum) + 1e-8)
    residual = log_amplitude - cv2.blur(log_amplitude, (3, 3))
    saliency = numpy.abs(numpy.fft.ifft2(numpy.exp(residual + 1j * numpy.angle(spectrum)))) ** 2
    saliency = cv2.GaussianBlur(saliency.astype(numpy.float32), (9, 9), 2.5)
    return cv2.resize(saliency, image.size)


def _inside(width: int, height: int, left: float, top: float, side: int) -> CropBox:
    return CropBox(int(min(max(0, round(left)), width - side)), int(min(max(0, round(top)), height - side)), side)


def choose_crop(image, kind: str, resolution: int) -> tuple[CropBox, str]:
    """The crop for one image, and how it was chosen ("face", "saliency", "centre")."""
    if kind == "face":
        from ti_tui.dataset.faces import detect_faces

        faces = detect_faces(image)
        if faces:
            return face_crop(image.width, image.height, faces[0], resolution), "face"
    if kind == "style":
        return centre_crop(image.width, image.height), "centre"
    return salient_crop(image), "saliency"


def prepare_dataset(
    originals: list[Path],
    images_dir: Path,
    prepared_dir: Path,
    resolution: int,
    kind: str,
    background: str,
    progress: Callable[[int, int, str], bool] | None = None,
) -> PreparationReport:
    """Bring `prepared_dir` up to date with `originals`, doing only the work that changed.

    Never loses the user's work: a prepared image edited by hand is kept, captions are only ever
    moved (to `removed/`, and back when their original returns), and an images folder that has
    gone missing is refused rather than taken to mean "retire everything". `progress(done, total,
    name)` is told before each image; when it returns False the work stops there, and what was
    done is kept.
    """
    from filelock import FileLock, Timeout

    if images_dir.exists() and not images_dir.is_dir():
        raise UserError(
            f"the image folder {images_dir} is a file, not a folder: move the file away, or set dataset.images to the "
            "folder of your images; nothing was changed",
            Fix("edit-setting", "dataset.images"),
        )
    if not images_dir.is_dir():
        raise UserError(f"the image folder {images_dir} is not there (unplugged?); nothing was changed")
    blocker = file_in_the_way(prepared_dir)
    if blocker:
        raise UserError(f"{blocker} is a file where the folder of prepared images goes: move it away; nothing was changed")
    prepared_dir.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(os.fspath(prepared_dir / ".prepare.lock"), timeout=0):
            recipe = {"resolution": resolution, "kind": kind, "background": background}
            return _prepare(originals, images_dir, prepared_dir, recipe, progress or (lambda done, total, name: True))
    except Timeout:
        raise UserError(f"another prepare is working on {prepared_dir}; wait for it to finish") from None


def _prepare(originals: list[Path], images_dir: Path, prepared_dir: Path, recipe: dict, progress) -> PreparationReport:
    from PIL import Image

    report = PreparationReport()
    manifest = _read_manifest(prepared_dir)
    project = prepared_dir.parent
    made_from = {name: _original_path(entry, project) for name, entry in manifest.items()}
    if manifest and not set(made_from.values()) & set(originals):
        raise UserError(
            f"none of the {len(manifest)} images prepared before is in {images_dir} any more; if that is meant, "
            f"move {prepared_dir} away first. Nothing was changed"
        )
    entries = {}
    unreadable = []
    names = _prepared_names(originals, images_dir, made_from)
    for done, (original, name) in enumerate(zip(originals, names)):
        if not progress(done, len(originals), name):
            report.cancelled = True
            entries.update({name: manifest[name] for name in names[done:] if name in manifest})
            not_reached = {_recorded_path(path, project) for path in originals[done:]}
            unreadable += [entry for entry in _read_unreadable(prepared_dir) if entry["original"] in not_reached]
            break
        target = prepared_dir / name
        known = manifest.get(name)
        recorded = {"original": _recorded_path(original, project), "original_stamp": _stamp(original)}
        damaged = False
        if known and target.is_file() and known.get("prepared_sha256") not in (None, file_sha256(target)):
            damaged = not _readable(target)
            if not damaged:
                entries[name] = {**known, **recorded}
                report.kept_edits.append(name)
                continue
        digest = file_sha256(original)
        if known and known["original_sha256"] == digest and known["recipe"] == recipe and target.is_file() and not damaged:
            entries[name] = {**known, **recorded}
            report.unchanged.append(name)
            continue
        try:
            image = open_image(original, recipe["background"])
        except ImageProblem as problem:
            report.problems.append(str(problem))
            unreadable.append({**recorded, "reason": problem.reason})
            if known:
                entries[name] = known  # keep what was prepared from it before; it may come back readable
            continue
        crop, method = choose_crop(image, recipe["kind"], recipe["resolution"])
        square = image.crop(crop.as_tuple()).resize((recipe["resolution"],) * 2, Image.Resampling.LANCZOS)
        data = _png_bytes(square)
        atomic_write_bytes(target, data)
        _bring_caption(original, target, prepared_dir)
        entries[name] = {
            **recorded,
            "original_sha256": digest,
            "prepared_sha256": hashlib.sha256(data).hexdigest(),
            "recipe": recipe,
            "crop": list(crop.as_tuple()),
            "method": method,
        }
        report.prepared.append(name)
        if damaged:
            report.remade.append(name)
    for name in sorted(set(manifest) - set(entries)) if not report.cancelled else []:
        _retire(prepared_dir, name)
        report.retired.append(name)
    manifest_content = {"version": MANIFEST_VERSION, "images": entries, "unreadable": unreadable}
    atomic_write_text(prepared_dir / MANIFEST, json.dumps(manifest_content, indent=1))
    return report


def stale_reasons(originals: list[Path], prepared_dir: Path) -> list[str]:
    """Why `prepared/` no longer matches the originals, cheap enough to ask often.

    An original whose size and time are as recorded is taken as unchanged; one whose time differs
    (a copied project) is judged by its content, hashed once while it stays the same.
    """
    manifest = _read_manifest(prepared_dir)
    if not manifest:
        return []
    prepared_from = {_original_path(entry, prepared_dir.parent): entry for entry in manifest.values()}
    left_out = unreadable_originals(originals, prepared_dir)
    reasons = []
    for original in originals:
        if original in left_out:
            continue  # preparing again would leave it out again
        entry = prepared_from.get(original)
        if entry is None:
            reasons.append(f"{original.name} is new")
        elif not _same_content(original, entry):
            reasons.append(f"{original.name} changed")
    present = set(originals)
    reasons += [f"{path.name} is gone" for path in prepared_from if path not in present]
    return reasons


def unreadable_originals(originals: list[Path], prepared_dir: Path) -> dict[Path, str]:
    """The originals the last prepare could not read and that have not changed since, each with why ("is cut short ...")."""
    project = prepared_dir.parent
    recorded = {_original_path(entry, project): entry for entry in _read_unreadable(prepared_dir)}
    found = {}
    for original in originals:
        entry = recorded.get(original)
        try:
            if entry is not None and entry.get("original_stamp") == _stamp(original):
                found[original] = entry["reason"]
        except OSError:
            continue  # gone or unreadable since: judged as any other original
    return found


def prepared_copies(prepared_dir: Path) -> dict[Path, Path]:
    """Each prepared image, by the original it was made from."""
    return {_original_path(entry, prepared_dir.parent): prepared_dir / name for name, entry in _read_manifest(prepared_dir).items()}


def _stamp(path: Path) -> list[int]:
    status = path.stat()
    return [status.st_size, status.st_mtime_ns]


def _same_content(original: Path, entry: dict) -> bool:
    stamp = _stamp(original)
    recorded = entry.get("original_stamp")
    if recorded == stamp:
        return True
    if recorded and recorded[0] != stamp[0]:
        return False  # another size: no need to read it
    return _content_digest(os.fspath(original), *stamp) == entry.get("original_sha256")


@functools.lru_cache(maxsize=4096)
def _content_digest(path: str, size: int, modified_ns: int) -> str:
    """The file's SHA-256, kept while its size and time stay as they are (the wizard asks often)."""
    return file_sha256(Path(path))


def _recorded_path(original: Path, project: Path) -> str:
    """How the manifest names an original: by its path inside the project, so the project can move; else in full."""
    try:
        return original.relative_to(project).as_posix()
    except ValueError:
        return os.fspath(original)


def _original_path(entry: dict, project: Path) -> Path:
    """Where an entry's original is on this machine (a full path stays as it is)."""
    return project / entry["original"]


def _found_in_copy(recorded: Path, project: Path) -> Path:
    """A full path from a version 1 manifest, as it is in this copy of the project.

    Version 1 kept full paths: in a copied project they name the folder it was copied from, so the
    same place inside this project is looked for first ("/old/myface/images/a.jpg" is "images/a.jpg"
    here). An original outside the project keeps its full path.
    """
    if recorded.is_relative_to(project):
        return recorded
    for start in range(1, len(recorded.parts) - 1):
        moved = project.joinpath(*recorded.parts[start:])
        if moved.is_file():
            return moved
    return recorded


def _readable(image: Path) -> bool:
    try:
        check_readable(image)
    except ImageProblem:
        return False
    return True


def _prepared_names(originals: list[Path], images_dir: Path, made_from: dict[str, Path]) -> list[str]:
    """A name for each original's prepared image that never moves to another original.

    An original keeps the name the manifest gave it (`made_from`: each name's original); a new one is
    named after its path in the image folder (`2023/IMG_1.jpg` becomes `2023--IMG_1.png`), numbered
    if that name is taken.
    """
    by_original = {original: name for name, original in made_from.items()}
    taken = {by_original[path] for path in originals if path in by_original}
    names = []
    for original in originals:
        name = by_original.get(original)
        if name is None:
            stem = Path(display_name(original, images_dir)).with_suffix("").as_posix().replace("/", "--")
            name, number = f"{stem}.png", 2
            while name in taken or (name in made_from and made_from[name] != original):
                name, number = f"{stem}-{number}.png", number + 1
            taken.add(name)
        names.append(name)
    return names


def _png_bytes(image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _bring_caption(original: Path, prepared: Path, prepared_dir: Path) -> None:
    """The prepared image's caption: the one retired with it, if it comes back; else, once, the original's."""
    target = caption_path(prepared)
    if target.exists():
        return
    retired = caption_path(prepared_dir / RETIRED / prepared.name)
    if retired.is_file():
        os.replace(retired, target)
    elif caption_path(original).is_file():
        shutil.copyfile(caption_path(original), target)


def _retire(prepared_dir: Path, name: str) -> None:
    """Move a prepared image whose original is gone, and its caption, into removed/, overwriting nothing."""
    retired = prepared_dir / RETIRED
    retired.mkdir(exist_ok=True)
    for path in (prepared_dir / name, caption_path(prepared_dir / name)):
        if path.exists():
            target, number = retired / path.name, 2
            while target.exists():
                target, number = retired / f"{path.stem}-{number}{path.suffix}", number + 1
            os.replace(path, target)


def _read_unreadable(prepared_dir: Path) -> list[dict]:
    """The manifest's record of originals that could not be read: {"original", "original_stamp", "reason"} each."""
    entries = _read_manifest_file(prepared_dir).get("unreadable", [])
    if not isinstance(entries, list):
        return []
    return [
        entry
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("original"), str) and isinstance(entry.get("reason"), str)
    ]


def _read_manifest_file(prepared_dir: Path) -> dict:
    try:
        content = json.loads((prepared_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


def _read_manifest(prepared_dir: Path) -> dict:
    """Each prepared image's entry by its name, originals named as version 2 names them."""
    content = _read_manifest_file(prepared_dir)
    if not content:
        return {}
    images = content.get("images", {})
    if content.get("version", 1) >= 2:
        return images
    project = prepared_dir.parent
    return {
        name: {**entry, "original": _recorded_path(_found_in_copy(Path(entry["original"]), project), project)}
        for name, entry in images.items()
    }

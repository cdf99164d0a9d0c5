"""Preparing the training images: a square crop around the subject, at the training size.

Faces (for face projects) are centred with room above the head and some shoulders below; other
subjects are found by where the picture draws the eye (spectral-residual saliency); styles keep
the centre. Results go to `prepared/` as PNG, each with its caption beside it, and a manifest that
links every prepared image to its original. Originals are only read. An original is prepared again
only when its bytes or the preparation settings change.
"""

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ti_tui.dataset.files import caption_path
from ti_tui.dataset.reading import ImageProblem, open_image
from ti_tui.fsutil import atomic_write_bytes, atomic_write_text

MANIFEST = "manifest.json"
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
    retired: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


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


def prepare_dataset(originals: list[Path], prepared_dir: Path, resolution: int, kind: str, background: str) -> PreparationReport:
    """Bring `prepared_dir` up to date with `originals`, doing only the work that changed."""
    from PIL import Image

    report = PreparationReport()
    prepared_dir.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(prepared_dir)
    recipe = {"resolution": resolution, "kind": kind, "background": background}
    entries, names = {}, _prepared_names(originals)
    for original, name in zip(originals, names):
        digest = hashlib.sha256(original.read_bytes()).hexdigest()
        known = manifest.get(name)
        target = prepared_dir / name
        if known and known["original_sha256"] == digest and known["recipe"] == recipe and target.is_file():
            entries[name] = known
            report.unchanged.append(name)
            continue
        try:
            image = open_image(original, background)
        except ImageProblem as problem:
            report.problems.append(str(problem))
            continue
        crop, method = choose_crop(image, kind, resolution)
        square = image.crop(crop.as_tuple()).resize((resolution, resolution), Image.Resampling.LANCZOS)
        atomic_write_bytes(target, _png_bytes(square))
        _adopt_caption(original, target)
        entries[name] = {
            "original": os.fspath(original),
            "original_sha256": digest,
            "recipe": recipe,
            "crop": list(crop.as_tuple()),
            "method": method,
        }
        report.prepared.append(name)
    for name in set(manifest) - set(entries):
        _retire(prepared_dir, name)
        report.retired.append(name)
    atomic_write_text(prepared_dir / MANIFEST, json.dumps({"version": 1, "images": entries}, indent=1))
    return report


def _prepared_names(originals: list[Path]) -> list[str]:
    """`<original stem>.png`, numbered when two originals share a stem (photo.jpg and photo.png)."""
    names, seen = [], set()
    for original in originals:
        name, number = f"{original.stem}.png", 2
        while name in seen:
            name, number = f"{original.stem}-{number}.png", number + 1
        seen.add(name)
        names.append(name)
    return names


def _png_bytes(image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _adopt_caption(original: Path, prepared: Path) -> None:
    """A caption written beside the original comes along, once; after that the prepared one is the user's."""
    source, target = caption_path(original), caption_path(prepared)
    if source.is_file() and not target.exists():
        shutil.copyfile(source, target)


def _retire(prepared_dir: Path, name: str) -> None:
    retired = prepared_dir / RETIRED
    retired.mkdir(exist_ok=True)
    for path in (prepared_dir / name, caption_path(prepared_dir / name)):
        if path.exists():
            os.replace(path, retired / path.name)


def _read_manifest(prepared_dir: Path) -> dict:
    try:
        content = json.loads((prepared_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return content.get("images", {}) if isinstance(content, dict) else {}

"""Checking the images before training, and saying what is wrong in words, with what to do.

Each check is calibrated on real photographs (scikit-image's astronaut, coffee, chelsea, camera,
rocket) and on blurred, shrunk and recompressed copies of them; the thresholds below note what
they saw. What is measured of an image is remembered (by path, size and time) in the user cache,
so checking a project again costs only its new or changed images.
"""

import json
import os
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path

from ti_tui.dataset.faces import DETECTOR_VERSION
from ti_tui.dataset.files import display_name
from ti_tui.dataset.reading import ImageProblem, open_image
from ti_tui.findings import Finding, Fix, Severity
from ti_tui.fsutil import atomic_write_text
from ti_tui.paths import cache_dir

MIN_USABLE_SIDE = 64
EXTREME_ASPECT = 2.5  # a square crop of a 2.5:1 picture keeps 40% of it
# Variance of the Laplacian at a short side of at most 512 px: the sharp photos scored 218-1133
# (chelsea, the cat, 399), the sample drawings 196-877; a 1.5-pixel Gaussian blur brought the
# photos to 20-60, and 2 pixels under 12.
BLURRY_BELOW = 40.0
LOW_JPEG_QUALITY = 60
FEW_COLOURS = 24  # distinct colours in a 64x64 thumbnail: an 8-colour posterised photo has 8, a foggy black-and-white one 43
NEAR_DUPLICATE_BITS = 5  # of 64 in the difference hash: resized or re-saved copies differ by 0-4, distinct photos by 18 or more
ALIKE_BITS = 12  # median distance under this: the set lacks variety
MIN_IMAGES, ENOUGH_IMAGES = 5, 10

# The IJG standard luminance quantisation table (JPEG Annex K), which quality settings scale.
_STANDARD_LUMINANCE = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip


TAKE_IT_OUT = "Take it out of training (dataset.exclude), delete it, or replace it with a good copy"


def _finding(check: str, severity: Severity, images: tuple[str, ...], message: str, advice: str, fix: Fix | None = None) -> Finding:
    return Finding(severity, f"{message}.", f"{advice}.", fix, check, images)


@dataclass(frozen=True)
class ImageFacts:
    path: Path
    width: int
    height: int
    sharpness: float
    difference_hash: int
    colours: int
    jpeg_quality: int | None
    faces: int | None  # None when faces were not looked for


@dataclass
class DatasetReport:
    facts: list[ImageFacts] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == "error"]


def check_dataset(paths: list[Path], resolution: int, kind: str, background: str = "#ffffff", folder: Path | None = None) -> DatasetReport:
    """Check `paths`; findings name images by their path inside `folder` (or by file name)."""
    report = DatasetReport()
    memory = FactsCache()
    names = {path: display_name(path, folder) if folder else path.name for path in paths}
    for path in paths:
        try:
            facts = memory.facts(path, background, look_for_faces=kind == "face")
        except ImageProblem as problem:
            report.findings.append(
                _finding("unreadable", "error", (names[path],), str(problem), TAKE_IT_OUT, Fix("edit-setting", "dataset.exclude"))
            )
            continue
        report.facts.append(facts)
        report.findings += image_findings(facts, names[path], resolution)
    memory.save()
    report.findings += set_findings(report.facts, names)
    return report


class FactsCache:
    """What was measured of each image, kept while the file is unchanged."""

    def __init__(self):
        self.path = cache_dir() / "image-facts.json"
        try:
            self.known = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.known = {}
        self.changed = False

    def facts(self, path: Path, background: str, look_for_faces: bool) -> ImageFacts:
        status = path.stat()
        faces = f"faces {DETECTOR_VERSION}" if look_for_faces else "no faces"
        key = f"{os.path.realpath(path)}|{status.st_size}|{status.st_mtime_ns}|{background}|{faces}"
        entry = self.known.get(key)
        if isinstance(entry, dict):
            return ImageFacts(path=path, **entry)
        facts = image_facts(path, background, look_for_faces)
        self.known[key] = {name: value for name, value in asdict(facts).items() if name != "path"}
        self.changed = True
        return facts

    def save(self) -> None:
        if not self.changed:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps(self.known))
        except OSError:
            pass  # only costs time next check


def image_facts(path: Path, background: str, look_for_faces: bool) -> ImageFacts:
    image = open_image(path, background)
    faces = None
    if look_for_faces:
        from ti_tui.dataset.faces import detect_faces

        faces = len(detect_faces(image))
    return ImageFacts(
        path=path,
        width=image.width,
        height=image.height,
        sharpness=sharpness(image),
        difference_hash=difference_hash(image),
        colours=_colour_count(image),
        jpeg_quality=jpeg_quality(path),
        faces=faces,
    )


def image_findings(facts: ImageFacts, name: str, resolution: int) -> list[Finding]:
    short, long = min(facts.width, facts.height), max(facts.width, facts.height)
    size = f"{facts.width}x{facts.height}"
    if short < MIN_USABLE_SIDE:
        return [
            _finding(
                "size", "error", (name,), f"{name} is only {size} pixels", f"Use a photo at least {resolution} pixels on its short side"
            )
        ]
    findings = []
    if short < resolution:
        findings.append(
            _finding(
                "size",
                "warning",
                (name,),
                f"{name} is {size}, smaller than the training size ({resolution} px): it would be enlarged "
                f"{resolution / short:.1f} times and come out soft",
                f"Use an original at least {resolution} pixels on its short side",
            )
        )
    if long / short > EXTREME_ASPECT:
        findings.append(
            _finding(
                "aspect",
                "warning",
                (name,),
                f"{name} is {long / short:.1f} times {'wider than tall' if facts.width > facts.height else 'taller than wide'}: "
                f"a square crop keeps only {short / long:.0%} of it",
                "Crop it yourself around the subject, or use another photo",
            )
        )
    if facts.sharpness < BLURRY_BELOW:
        findings.append(
            _finding(
                "blur",
                "warning",
                (name,),
                f"{name} looks blurry (sharpness {facts.sharpness:.0f}; sharp photos score over 100)",
                "Replace it with a sharper photo: the embedding learns the blur too",
            )
        )
    if facts.jpeg_quality is not None and facts.jpeg_quality < LOW_JPEG_QUALITY:
        findings.append(
            _finding(
                "jpeg",
                "warning",
                (name,),
                f"{name} is a heavily compressed JPEG (quality about {facts.jpeg_quality})",
                "Use a better copy: the blocky artefacts get learned too",
            )
        )
    if facts.colours < FEW_COLOURS:
        findings.append(
            _finding(
                "colours",
                "warning",
                (name,),
                f"{name} has very few colours ({facts.colours}), as a posterised or low-bit-depth image does",
                "Use a full-colour original",
            )
        )
    if facts.faces == 0:
        findings.append(
            _finding(
                "faces",
                "warning",
                (name,),
                f"No face was found in {name}",
                "Use photos where the face is clearly visible, or set dataset.kind to subject",
            )
        )
    elif facts.faces is not None and facts.faces > 1:
        findings.append(
            _finding(
                "faces",
                "warning",
                (name,),
                f"{name} shows {facts.faces} faces: the embedding would mix them",
                "Crop it to the one person, or leave it out",
            )
        )
    return findings


def set_findings(all_facts: list[ImageFacts], names: dict[Path, str]) -> list[Finding]:
    findings = []
    distances = {}
    group_of = {facts.path: {facts.path} for facts in all_facts}
    for first, second in combinations(all_facts, 2):
        distance = bin(first.difference_hash ^ second.difference_hash).count("1")
        distances[first.path, second.path] = distance
        if distance <= NEAR_DUPLICATE_BITS and group_of[first.path] is not group_of[second.path]:
            merged = group_of[first.path] | group_of[second.path]
            for member in merged:
                group_of[member] = merged
    groups = {id(group): group for group in group_of.values() if len(group) > 1}.values()
    for group in groups:
        members = sorted(names[path] for path in group)
        findings.append(
            _finding(
                "duplicate",
                "warning",
                tuple(members),
                f"{_listed(members)} are near-duplicates",
                "Keep one: a repeated image is learned harder than the rest",
            )
        )
    count = len(all_facts)
    if count < MIN_IMAGES:
        findings.append(
            _finding(
                "count",
                "error",
                (),
                f"Only {count} usable image(s)" if count else "No usable images",
                f"Add at least {MIN_IMAGES - count} more; 10-50 varied ones work best",
                Fix("import-images"),
            )
        )
    elif count < ENOUGH_IMAGES:
        findings.append(
            _finding("count", "warning", (), f"Only {count} images", "10-50 varied ones give a more faithful result", Fix("import-images"))
        )
    if count >= MIN_IMAGES and sorted(distances.values())[len(distances) // 2] < ALIKE_BITS:
        findings.append(
            _finding(
                "variety",
                "warning",
                (),
                "The images look much alike",
                "Vary the pose, framing, background and light, or the embedding learns the one picture",
            )
        )
    return findings


def _listed(names: list[str]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}"


def _colour_count(image) -> int:
    from PIL import Image

    # Nearest-neighbour shrinking keeps the picture's own colours instead of blending new ones.
    return len(image.resize((64, 64), Image.Resampling.NEAREST).getcolors(64 * 64))


def sharpness(image) -> float:
    """Variance of the Laplacian of the greyscale image, shrunk (never enlarged) to a short side of 512."""
    import cv2
    import numpy

    grey = image.convert("L")
    scale = min(1.0, 512 / min(grey.size))
    if scale < 1:
        grey = grey.resize((round(grey.width * scale), round(grey.height * scale)))
    return float(cv2.Laplacian(numpy.asarray(grey, dtype=numpy.float32), cv2.CV_32F).var())


def difference_hash(image) -> int:
    """64 bits: is each pixel of a 9x8 greyscale thumbnail brighter than its right neighbour."""
    from PIL import Image

    pixels = list(image.convert("L").resize((9, 8), Image.Resampling.LANCZOS).get_flattened_data())
    bits = 0
    for row in range(8):
        for column in range(8):
            bits = (bits << 1) | (pixels[row * 9 + column] > pixels[row * 9 + column + 1])
    return bits


def jpeg_quality(path: Path) -> int | None:
    """The quality setting a JPEG was saved with, estimated from its luminance quantisation table."""
    from PIL import Image

    try:
        with Image.open(path) as opened:
            tables = getattr(opened, "quantization", None) if opened.format == "JPEG" else None
    except OSError:
        return None
    if not tables or 0 not in tables:
        return None
    scale = 100 * sum(tables[0]) / sum(_STANDARD_LUMINANCE)
    quality = (200 - scale) / 2 if scale <= 100 else 5000 / scale
    return max(1, min(100, round(quality)))

"""Checking the images before training, and saying what is wrong in words, with what to do.

Each check is calibrated on real photographs (scikit-image's astronaut, coffee, camera, rocket)
and on blurred, shrunk and recompressed copies of them; the thresholds below note what they saw.
"""

from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Literal

from ti_tui.dataset.reading import ImageProblem, open_image

MIN_USABLE_SIDE = 64
EXTREME_ASPECT = 2.5  # a square crop of a 2.5:1 picture keeps 40% of it
# Variance of the Laplacian at a short side of at most 512 px: sharp photos scored 200-1100, and
# 40 for a soft-focus cat; a 2-pixel Gaussian blur brought them all under 12.
BLURRY_BELOW = 15.0
LOW_JPEG_QUALITY = 60
FEW_COLOURS = 48  # distinct colours in a 64x64 thumbnail; photos and anti-aliased drawings have hundreds
NEAR_DUPLICATE_BITS = 5  # of 64 in the difference hash: resized or re-saved copies differ by 0-4
ALIKE_BITS = 12  # median distance under this: the set lacks variety
MIN_IMAGES, ENOUGH_IMAGES = 5, 10

# The IJG standard luminance quantisation table (JPEG Annex K), which quality settings scale.
_STANDARD_LUMINANCE = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    check: str  # which check: unreadable, size, aspect, blur, jpeg, colours, faces, duplicate, count, variety
    severity: Severity
    images: tuple[str, ...]  # the files it is about; empty for the set as a whole
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.message}. {self.fix}."


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

    def usable(self) -> list[Path]:
        """Images without an error of their own."""
        broken = {name for finding in self.errors for name in finding.images}
        return [facts.path for facts in self.facts if facts.path.name not in broken]

    def about(self, path: Path) -> list[Finding]:
        return [finding for finding in self.findings if path.name in finding.images]


def check_dataset(paths: list[Path], resolution: int, kind: str, background: str = "#ffffff") -> DatasetReport:
    report = DatasetReport()
    for path in paths:
        try:
            facts = image_facts(path, background, look_for_faces=kind == "face")
        except ImageProblem as problem:
            report.findings.append(Finding("unreadable", "error", (path.name,), str(problem), "Remove it, or replace it with a good copy"))
            continue
        report.facts.append(facts)
        report.findings += image_findings(facts, resolution)
    report.findings += set_findings(report.facts)
    return report


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


def image_findings(facts: ImageFacts, resolution: int) -> list[Finding]:
    name, short, long = facts.path.name, min(facts.width, facts.height), max(facts.width, facts.height)
    size = f"{facts.width}x{facts.height}"
    if short < MIN_USABLE_SIDE:
        return [Finding("size", "error", (name,), f"{name} is only {size} pixels", f"Use a photo at least {resolution} pixels on its short side")]
    findings = []
    if short < resolution:
        findings.append(
            Finding(
                "size", "warning", (name,),
                f"{name} is {size}, smaller than the training size ({resolution} px): it would be enlarged "
                f"{resolution / short:.1f} times and come out soft",
                f"Use an original at least {resolution} pixels on its short side",
            )
        )
    if long / short > EXTREME_ASPECT:
        findings.append(
            Finding(
                "aspect", "warning", (name,),
                f"{name} is {long / short:.1f} times wider than tall (or taller than wide): a square crop keeps only "
                f"{short / long:.0%} of it",
                "Crop it yourself around the subject, or use another photo",
            )
        )
    if facts.sharpness < BLURRY_BELOW:
        findings.append(
            Finding(
                "blur", "warning", (name,),
                f"{name} looks blurry (sharpness {facts.sharpness:.0f}; sharp photos score over 100)",
                "Replace it with a sharper photo: the embedding learns the blur too",
            )
        )
    if facts.jpeg_quality is not None and facts.jpeg_quality < LOW_JPEG_QUALITY:
        findings.append(
            Finding(
                "jpeg", "warning", (name,),
                f"{name} is a heavily compressed JPEG (quality about {facts.jpeg_quality})",
                "Use a better copy: the blocky artefacts get learned too",
            )
        )
    if facts.colours < FEW_COLOURS:
        findings.append(
            Finding(
                "colours", "warning", (name,),
                f"{name} has very few colours ({facts.colours}), as a posterised or low-bit-depth image does",
                "Use a full-colour original",
            )
        )
    if facts.faces == 0:
        findings.append(
            Finding("faces", "warning", (name,), f"No face was found in {name}", "Use photos where the face is clearly visible, or set dataset.kind to subject")
        )
    elif facts.faces is not None and facts.faces > 1:
        findings.append(
            Finding(
                "faces", "warning", (name,), f"{name} shows {facts.faces} faces: the embedding would mix them",
                "Crop it to the one person, or leave it out",
            )
        )
    return findings


def set_findings(all_facts: list[ImageFacts]) -> list[Finding]:
    findings = []
    distances = {}
    for first, second in combinations(all_facts, 2):
        distance = bin(first.difference_hash ^ second.difference_hash).count("1")
        distances[first.path.name, second.path.name] = distance
        if distance <= NEAR_DUPLICATE_BITS:
            findings.append(
                Finding(
                    "duplicate", "warning", (first.path.name, second.path.name),
                    f"{first.path.name} and {second.path.name} are near-duplicates",
                    "Keep one: a repeated image is learned twice as hard",
                )
            )
    count = len(all_facts)
    if count < MIN_IMAGES:
        findings.append(Finding("count", "error", (), f"Only {count} usable image(s)", f"Add at least {MIN_IMAGES - count} more; 10-50 varied ones work best"))
    elif count < ENOUGH_IMAGES:
        findings.append(Finding("count", "warning", (), f"Only {count} images", "10-50 varied ones give a more faithful result"))
    if count >= MIN_IMAGES and sorted(distances.values())[len(distances) // 2] < ALIKE_BITS:
        findings.append(
            Finding(
                "variety", "warning", (), "The images look much alike",
                "Vary the pose, framing, background and light, or the embedding learns the one picture",
            )
        )
    return findings


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

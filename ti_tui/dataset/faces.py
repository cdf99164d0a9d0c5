"""Finding faces with OpenCV's frontal-face cascade, which ships inside the opencv-python wheel.

No download and no GPU: a classic detector is enough to tell "a face", "no face" and "several
faces", and to centre a crop on the face.
"""

from dataclasses import dataclass
from functools import cache

DETECTION_SIZE = 640  # long side the image is shrunk to before looking; faces stay findable, time stays low
MIN_FACE_FRACTION = 0.06  # of the short side: smaller "faces" are background noise for our purpose


@dataclass(frozen=True)
class FaceBox:
    x: int
    y: int
    width: int
    height: int

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.width / 2, self.y + self.height / 2


@cache
def _cascade():
    import cv2

    detector = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    if detector.empty():
        raise RuntimeError("OpenCV's frontal-face cascade is missing from the opencv-python-headless install")
    return detector


def detect_faces(image) -> list[FaceBox]:
    """Faces in an RGB PIL image, in the image's own pixels, largest first."""
    import cv2
    import numpy

    scale = min(1.0, DETECTION_SIZE / max(image.size))
    small = image.resize((round(image.width * scale), round(image.height * scale))) if scale < 1 else image
    grey = cv2.cvtColor(numpy.asarray(small.convert("RGB")), cv2.COLOR_RGB2GRAY)
    smallest = max(24, round(min(small.size) * MIN_FACE_FRACTION))
    found = _cascade().detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(smallest, smallest))
    boxes = [FaceBox(*(round(value / scale) for value in box)) for box in found]
    return sorted(boxes, key=lambda box: box.width * box.height, reverse=True)

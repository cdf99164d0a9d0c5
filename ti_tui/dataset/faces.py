"""Finding faces with OpenCV's frontal-face cascade, which ships inside the opencv-python wheel.

No download and no GPU: a classic detector is enough to tell "a face", "no face" and "several
faces", and to centre a crop on the face.
"""

from dataclasses import dataclass
from functools import cache

from PIL import Image

# The ways round a photo is looked at: as it stands, then on either side, then upside down.
TURNS = (None, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270, Image.Transpose.ROTATE_180)

DETECTION_SIZE = 640  # long side the image is shrunk to before looking; faces stay findable, time stays low
MIN_FACE_FRACTION = 0.06  # of the short side: smaller "faces" are background noise for our purpose
MIN_FINDS = 5  # finds merged into one box before the box is taken at all (OpenCV's minNeighbors)
CLEAR_FINDS = 12  # finds that make a box a clear face; real faces gather dozens, false ones a few
FALSE_FIND_SHARE = 0.5  # a box found less than this share as often as the clearest one is a false find
DETECTOR_VERSION = 2  # in the key of the measured facts kept between checks: a new rule counts faces anew


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
    """Faces in an RGB PIL image, in the image's own pixels, the clearest first.

    The cascade finds each face many times over, at nearby places and scales, and counts the finds it
    merges into one box: a real face gathers dozens, a false one a few. A box found under half as
    often as the clearest is dropped as a false find. A photo turned on its side or upside down
    without saying so in its EXIF is looked at the other ways round when no clear face stands
    upright, and the way that finds the clearest face wins.
    """
    scale = min(1.0, DETECTION_SIZE / max(image.size))
    small = image.resize((round(image.width * scale), round(image.height * scale))) if scale < 1 else image
    best_turn, best = None, []
    for turn in TURNS:
        found = _found(small if turn is None else small.transpose(turn))
        if turn is not None:
            found = [(box, finds) for box, finds in found if finds >= CLEAR_FINDS]  # turned, only a clear face counts
        if found and (not best or found[0][1] > best[0][1]):
            best_turn, best = turn, found
        if best and best[0][1] >= CLEAR_FINDS:
            break  # a clear face this way round: no need to look the others
    if not best:
        return []
    clearest = best[0][1]
    kept = [box for box, finds in best if finds >= clearest * FALSE_FIND_SHARE]
    width, height = small.size
    return [FaceBox(*(round(value / scale) for value in _turned_back(box, best_turn, width, height))) for box in kept]


def _found(grey_source) -> list[tuple[tuple[int, int, int, int], int]]:
    """(box, how many finds it merges) in `grey_source`'s pixels, the most found first."""
    import cv2
    import numpy

    grey = cv2.cvtColor(numpy.asarray(grey_source.convert("RGB")), cv2.COLOR_RGB2GRAY)
    smallest = max(24, round(min(grey_source.size) * MIN_FACE_FRACTION))
    boxes, finds = _cascade().detectMultiScale2(grey, scaleFactor=1.1, minNeighbors=MIN_FINDS, minSize=(smallest, smallest))
    found = [(tuple(int(value) for value in box), int(count)) for box, count in zip(boxes, finds, strict=True)]
    return sorted(found, key=lambda item: item[1], reverse=True)


def _turned_back(box: tuple[int, int, int, int], turn, width: int, height: int) -> tuple[int, int, int, int]:
    """A box found in the image turned by `turn` (a PIL transpose), in the pixels of the image of `width` x `height`."""
    x, y, w, h = box
    if turn == Image.Transpose.ROTATE_90:  # turned a quarter anticlockwise
        return width - (y + h), x, h, w
    if turn == Image.Transpose.ROTATE_270:  # a quarter clockwise
        return y, height - (x + w), h, w
    if turn == Image.Transpose.ROTATE_180:
        return width - (x + w), height - (y + h), w, h
    return box

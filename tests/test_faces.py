"""The face detector on a real photo: upright, turned on its side or upside down by hand, and turned by EXIF.
One clear face wins over the false finds a turned photo gives the cascade, and crops centre on the real face."""

from pathlib import Path

import pytest
from PIL import Image

from ti_tui.dataset.checks import image_facts
from ti_tui.dataset.faces import detect_faces
from ti_tui.dataset.prepare import choose_crop
from ti_tui.dataset.reading import open_image

PHOTO = Path(__file__).parent / "photos" / "astronaut.jpg"
FACE_CENTRE = (140.5, 71.5)  # upright, in the photo's 320 x 320 pixels
SIDE = 320


def turned_centre(turn) -> tuple[float, float]:
    """Where the face's centre goes when the photo is turned by `turn` (a PIL transpose)."""
    x, y = FACE_CENTRE
    return {
        None: (x, y),
        Image.Transpose.ROTATE_90: (y, SIDE - x),  # a quarter anticlockwise
        Image.Transpose.ROTATE_270: (SIDE - y, x),  # a quarter clockwise
        Image.Transpose.ROTATE_180: (SIDE - x, SIDE - y),
    }[turn]


@pytest.mark.parametrize(
    "turn",
    [None, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270, Image.Transpose.ROTATE_180],
    ids=["upright", "on-its-left", "on-its-right", "upside-down"],
)
def test_the_one_real_face_is_found_however_the_photo_was_turned_by_hand(turn):
    photo = Image.open(PHOTO).convert("RGB")
    faces = detect_faces(photo if turn is None else photo.transpose(turn))
    assert len(faces) == 1, faces
    expected = turned_centre(turn)
    assert abs(faces[0].centre[0] - expected[0]) <= 4 and abs(faces[0].centre[1] - expected[1]) <= 4, (faces[0], expected)


def test_upside_down_the_larger_false_face_the_cascade_finds_is_not_taken_and_the_crop_centres_on_the_real_one(tmp_path):
    upside_down = tmp_path / "upside-down.png"
    Image.open(PHOTO).convert("RGB").transpose(Image.Transpose.ROTATE_180).save(upside_down)
    assert image_facts(upside_down, "#ffffff", look_for_faces=True).faces == 1, "the check would say it shows 2 faces"
    crop, how = choose_crop(open_image(upside_down), "face", 128)
    x, y = turned_centre(Image.Transpose.ROTATE_180)
    centre = (crop.left + crop.side / 2, crop.top + crop.side / 2)
    assert how == "face" and abs(centre[0] - x) <= 10, f"the crop centred at {centre}, the face at {(x, y)}"


@pytest.mark.parametrize(
    ("orientation", "stored_turn"), [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270), (3, Image.Transpose.ROTATE_180)]
)
def test_a_photo_turned_by_its_exif_is_looked_at_upright(tmp_path, orientation, stored_turn):
    """A camera stores the pixels as the sensor saw them and says in EXIF how to turn them upright."""
    stored = Image.open(PHOTO).convert("RGB").transpose(stored_turn)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"orientation-{orientation}.jpg"
    stored.save(path, exif=exif, quality=92)
    upright = open_image(path)
    faces = detect_faces(upright)
    assert upright.size == (SIDE, SIDE) and len(faces) == 1
    assert abs(faces[0].centre[0] - FACE_CENTRE[0]) <= 4 and abs(faces[0].centre[1] - FACE_CENTRE[1]) <= 4, faces

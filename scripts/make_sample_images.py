"""Draw the sample project's images: Zorbot, a small teal robot, in different poses and places.

    python scripts/make_sample_images.py sample_project/images

Writes one JPEG per scene and a caption `.txt` beside each. The captions describe what changes
from image to image (place, pose, scarf colour) and leave out the robot itself, which is what the
embedding should learn. Drawn, not photographed: no real person appears in the sample.
"""

import math
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

SUPERSAMPLE = 2  # draw at twice the size, then shrink: smooth edges without an anti-aliasing library

TEAL = (43, 179, 163)
TEAL_DARK = (24, 110, 101)
TEAL_LIGHT = (164, 226, 214)
VISOR = (28, 36, 66)
EYE = (235, 252, 255)
PUPIL = (20, 160, 220)
METAL = (150, 158, 170)
METAL_DARK = (90, 96, 110)
ANTENNA_BALL = (255, 140, 40)


@dataclass(frozen=True)
class Pose:
    left_arm: tuple[float, float]  # shoulder and elbow angles in degrees; 0 hangs down, 90 points out
    right_arm: tuple[float, float]
    head_tilt: float  # degrees, positive leans to the viewer's left
    gaze: tuple[float, float]  # pupil offset, -1..1 each way
    stride: float = 0.0  # legs apart, 0..1


@dataclass(frozen=True)
class Scene:
    name: str
    size: tuple[int, int]
    background: str
    pose: Pose
    scarf: tuple[int, int, int]
    centre: tuple[float, float]  # where the robot's middle is, as fractions of width and height
    height: float  # robot height as a fraction of image height
    caption: str


WAVE = Pose(left_arm=(20, 10), right_arm=(150, 40), head_tilt=-8, gaze=(0.3, -0.2))
ARMS_UP = Pose(left_arm=(150, -20), right_arm=(150, 20), head_tilt=0, gaze=(0, -0.6))
RELAXED = Pose(left_arm=(15, -10), right_arm=(15, 10), head_tilt=5, gaze=(-0.4, 0.1))
POINTING = Pose(left_arm=(10, 0), right_arm=(95, 0), head_tilt=-4, gaze=(0.8, 0))
WALKING = Pose(left_arm=(35, 20), right_arm=(-25, -15), head_tilt=3, gaze=(0.5, 0.2), stride=1.0)
THINKING = Pose(left_arm=(20, 0), right_arm=(60, 130), head_tilt=12, gaze=(-0.6, -0.5))

SCENES = [
    Scene(
        "01-hill",
        (768, 768),
        "sky",
        WAVE,
        (220, 40, 50),
        (0.5, 0.58),
        0.62,
        "standing on a green hill under a blue sky with clouds, waving, red scarf",
    ),
    Scene(
        "02-beach",
        (1024, 768),
        "beach",
        RELAXED,
        (250, 200, 40),
        (0.38, 0.6),
        0.6,
        "on a sandy beach by the sea, arms relaxed, yellow scarf",
    ),
    Scene(
        "03-night",
        (768, 1024),
        "night",
        ARMS_UP,
        (60, 120, 230),
        (0.5, 0.6),
        0.5,
        "outside at night under the stars and the moon, both arms raised, blue scarf",
    ),
    Scene(
        "04-room",
        (896, 640),
        "room",
        POINTING,
        (220, 40, 50),
        (0.62, 0.58),
        0.75,
        "in a room beside a window, pointing to the side, red scarf",
    ),
    Scene("05-forest", (768, 768), "forest", WALKING, (120, 60, 170), (0.5, 0.62), 0.55, "walking through a pine forest, purple scarf"),
    Scene(
        "06-closeup",
        (768, 768),
        "studio",
        THINKING,
        (220, 40, 50),
        (0.5, 0.8),
        1.3,
        "close-up of the head and shoulders, plain pink background, thinking, red scarf",
    ),
    Scene(
        "07-city", (1024, 640), "city", WAVE, (250, 130, 30), (0.3, 0.58), 0.7, "in front of a city skyline at sunset, waving, orange scarf"
    ),
    Scene(
        "08-snow", (640, 896), "snow", RELAXED, (40, 160, 80), (0.55, 0.62), 0.58, "standing in the snow while snowflakes fall, green scarf"
    ),
    Scene(
        "09-flowers",
        (896, 896),
        "flowers",
        ARMS_UP,
        (220, 40, 50),
        (0.42, 0.62),
        0.45,
        "small in a field of flowers, arms raised, red scarf",
    ),
    Scene(
        "10-portrait",
        (704, 896),
        "studio_blue",
        RELAXED,
        (60, 120, 230),
        (0.5, 0.72),
        1.15,
        "upper body portrait, plain light blue background, blue scarf",
    ),
]


def vertical_gradient(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    column = Image.new("RGB", (1, 256))
    for y in range(256):
        t = y / 255
        column.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(top, bottom)))
    return column.resize(size, Image.Resampling.BILINEAR)


def draw_background(kind: str, size: tuple[int, int], rng: random.Random) -> Image.Image:
    width, height = size
    if kind == "sky":
        image = vertical_gradient(size, (70, 140, 230), (190, 225, 250))
        draw = ImageDraw.Draw(image)
        for cloud_x, cloud_y in ((0.2, 0.18), (0.7, 0.12), (0.85, 0.35)):
            for dx, dy, r in ((0, 0, 0.07), (0.06, -0.02, 0.06), (-0.06, 0.01, 0.05), (0.11, 0.01, 0.045)):
                x, y, radius = (cloud_x + dx) * width, (cloud_y + dy) * height, r * width
                draw.ellipse((x - radius, y - radius * 0.7, x + radius, y + radius * 0.7), fill=(250, 252, 255))
        draw.ellipse((-0.3 * width, 0.72 * height, 1.3 * width, 1.6 * height), fill=(90, 170, 70))
        return image
    if kind == "beach":
        image = vertical_gradient(size, (100, 170, 235), (200, 230, 250))
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 0.5 * height, width, 0.72 * height), fill=(30, 110, 170))
        for index in range(12):
            y = 0.52 * height + index * 0.017 * height
            draw.line((rng.uniform(0, width), y, rng.uniform(0, width), y), fill=(120, 190, 230), width=3)
        draw.rectangle((0, 0.72 * height, width, height), fill=(235, 210, 150))
        draw.ellipse((0.8 * width, 0.08 * height, 0.92 * width, 0.08 * height + 0.12 * width), fill=(255, 235, 120))
        return image
    if kind == "night":
        image = vertical_gradient(size, (10, 14, 40), (40, 50, 100))
        draw = ImageDraw.Draw(image)
        for _ in range(140):
            x, y, r = rng.uniform(0, width), rng.uniform(0, 0.75 * height), rng.choice((1, 1, 2, 3))
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 230))
        moon = 0.09 * width
        draw.ellipse((0.72 * width, 0.08 * height, 0.72 * width + 2 * moon, 0.08 * height + 2 * moon), fill=(250, 245, 210))
        draw.rectangle((0, 0.8 * height, width, height), fill=(20, 40, 35))
        return image
    if kind == "room":
        image = Image.new("RGB", size, (232, 214, 186))
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 0.78 * height, width, height), fill=(150, 100, 60))
        window = (0.08 * width, 0.15 * height, 0.36 * width, 0.6 * height)
        draw.rectangle(window, fill=(140, 200, 245), outline=(250, 250, 250), width=10)
        middle_x, middle_y = (window[0] + window[2]) / 2, (window[1] + window[3]) / 2
        draw.line((middle_x, window[1], middle_x, window[3]), fill=(250, 250, 250), width=8)
        draw.line((window[0], middle_y, window[2], middle_y), fill=(250, 250, 250), width=8)
        draw.rectangle((0.75 * width, 0.2 * height, 0.92 * width, 0.42 * height), fill=(200, 90, 70), outline=(90, 60, 40), width=8)
        return image
    if kind == "forest":
        image = vertical_gradient(size, (200, 230, 210), (150, 200, 160))
        draw = ImageDraw.Draw(image)
        for layer, shade in enumerate(((70, 130, 90), (40, 100, 60), (25, 75, 45))):
            for _ in range(9):
                x = rng.uniform(-0.1, 1.1) * width
                base = (0.62 + 0.08 * layer) * height
                tree_height = rng.uniform(0.3, 0.5) * height
                draw.polygon(((x, base - tree_height), (x - 0.08 * width, base), (x + 0.08 * width, base)), fill=shade)
        draw.rectangle((0, 0.8 * height, width, height), fill=(80, 130, 60))
        return image
    if kind == "city":
        image = vertical_gradient(size, (250, 150, 90), (120, 60, 120))
        draw = ImageDraw.Draw(image)
        x = 0.0
        while x < width:
            building_width = rng.uniform(0.06, 0.12) * width
            top = rng.uniform(0.25, 0.6) * height
            draw.rectangle((x, top, x + building_width, height), fill=(45, 35, 70))
            for window_y in range(int(top) + 12, height - 20, 26):
                for window_x in range(int(x) + 8, int(x + building_width) - 10, 18):
                    if rng.random() < 0.4:
                        draw.rectangle((window_x, window_y, window_x + 7, window_y + 10), fill=(255, 220, 120))
            x += building_width + rng.uniform(0, 0.02) * width
        draw.rectangle((0, 0.85 * height, width, height), fill=(60, 60, 70))
        return image
    if kind == "snow":
        image = vertical_gradient(size, (170, 195, 225), (225, 235, 245))
        draw = ImageDraw.Draw(image)
        draw.ellipse((-0.4 * width, 0.74 * height, 1.4 * width, 1.5 * height), fill=(250, 252, 255))
        for _ in range(160):
            x, y, r = rng.uniform(0, width), rng.uniform(0, height), rng.choice((2, 3, 4))
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255))
        return image
    if kind == "flowers":
        image = vertical_gradient(size, (130, 190, 240), (210, 235, 250))
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 0.55 * height, width, height), fill=(110, 180, 80))
        for _ in range(220):
            x, y = rng.uniform(0, width), rng.uniform(0.57, 1.0) * height
            r = 3 + 6 * (y / height)
            colour = rng.choice(((240, 80, 120), (255, 220, 60), (250, 250, 250), (170, 90, 220)))
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        return image
    if kind == "studio":
        return vertical_gradient(size, (250, 215, 225), (235, 180, 200))
    if kind == "studio_blue":
        return vertical_gradient(size, (215, 232, 250), (175, 205, 235))
    raise ValueError(f"unknown background {kind!r}")


def rotate_point(point: tuple[float, float], centre: tuple[float, float], degrees: float) -> tuple[float, float]:
    angle = math.radians(degrees)
    x, y = point[0] - centre[0], point[1] - centre[1]
    return (centre[0] + x * math.cos(angle) + y * math.sin(angle), centre[1] - x * math.sin(angle) + y * math.cos(angle))


def draw_arm(draw: ImageDraw.ImageDraw, shoulder: tuple[float, float], angles: tuple[float, float], side: int, unit: float) -> None:
    """`side` is -1 for the arm on the viewer's left, +1 for the right; angles open away from the body."""
    upper, lower = 0.17 * unit, 0.15 * unit
    shoulder_angle = math.radians(angles[0])
    elbow = (shoulder[0] + side * upper * math.sin(shoulder_angle), shoulder[1] + upper * math.cos(shoulder_angle))
    forearm_angle = math.radians(angles[0] + angles[1])
    hand = (elbow[0] + side * lower * math.sin(forearm_angle), elbow[1] + lower * math.cos(forearm_angle))
    thickness = round(0.055 * unit)
    draw.line((shoulder, elbow, hand), fill=TEAL_DARK, width=thickness, joint="curve")
    for joint in (shoulder, elbow):
        radius = thickness / 2
        draw.ellipse((joint[0] - radius, joint[1] - radius, joint[0] + radius, joint[1] + radius), fill=TEAL_DARK)
    radius = 0.045 * unit
    draw.ellipse(
        (hand[0] - radius, hand[1] - radius, hand[0] + radius, hand[1] + radius), fill=METAL, outline=METAL_DARK, width=round(0.01 * unit)
    )


def draw_head(size: tuple[int, int], neck: tuple[float, float], unit: float, pose: Pose) -> Image.Image:
    """The head on its own transparent layer, so it can tilt as one piece around the neck."""
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    line = round(0.018 * unit)
    head_width, head_height = 0.56 * unit, 0.36 * unit
    left, top = neck[0] - head_width / 2, neck[1] - head_height - 0.02 * unit
    antenna_base = (neck[0], top)
    antenna_tip = (neck[0] + 0.03 * unit, top - 0.16 * unit)
    draw.line((antenna_base, antenna_tip), fill=METAL_DARK, width=round(0.025 * unit))
    ball = 0.045 * unit
    draw.ellipse(
        (antenna_tip[0] - ball, antenna_tip[1] - ball, antenna_tip[0] + ball, antenna_tip[1] + ball),
        fill=ANTENNA_BALL,
        outline=(190, 90, 20),
        width=line,
    )
    ear = 0.06 * unit
    for x in (left - ear * 0.6, left + head_width - ear * 1.4):
        draw.rounded_rectangle(
            (x, top + 0.12 * unit, x + 2 * ear, top + 0.24 * unit), radius=ear * 0.6, fill=METAL, outline=METAL_DARK, width=line
        )
    draw.rounded_rectangle((left, top, left + head_width, top + head_height), radius=0.1 * unit, fill=TEAL, outline=TEAL_DARK, width=line)
    visor = (left + 0.06 * unit, top + 0.07 * unit, left + head_width - 0.06 * unit, top + head_height - 0.07 * unit)
    draw.rounded_rectangle(visor, radius=0.07 * unit, fill=VISOR)
    eye_radius = 0.065 * unit
    eye_y = (visor[1] + visor[3]) / 2
    for eye_x in (neck[0] - 0.11 * unit, neck[0] + 0.11 * unit):
        draw.ellipse((eye_x - eye_radius, eye_y - eye_radius, eye_x + eye_radius, eye_y + eye_radius), fill=EYE)
        pupil = eye_radius * 0.5
        px, py = eye_x + pose.gaze[0] * eye_radius * 0.45, eye_y + pose.gaze[1] * eye_radius * 0.45
        draw.ellipse((px - pupil, py - pupil, px + pupil, py + pupil), fill=PUPIL)
        glint = pupil * 0.35
        draw.ellipse(
            (px - pupil * 0.4 - glint, py - pupil * 0.4 - glint, px - pupil * 0.4 + glint, py - pupil * 0.4 + glint), fill=(255, 255, 255)
        )
    return layer.rotate(pose.head_tilt, resample=Image.Resampling.BICUBIC, center=neck)


def draw_robot(image: Image.Image, scene: Scene) -> None:
    width, height = image.size
    unit = scene.height * height
    centre_x, centre_y = scene.centre[0] * width, scene.centre[1] * height
    draw = ImageDraw.Draw(image)
    line = round(0.018 * unit)

    shadow = Image.new("L", image.size, 0)
    feet_y = centre_y + 0.5 * unit
    ImageDraw.Draw(shadow).ellipse((centre_x - 0.3 * unit, feet_y - 0.04 * unit, centre_x + 0.3 * unit, feet_y + 0.05 * unit), fill=90)
    image.paste((0, 0, 0), mask=shadow.filter(ImageFilter.GaussianBlur(0.02 * unit)))

    body_top = centre_y - 0.1 * unit
    body = (centre_x - 0.25 * unit, body_top, centre_x + 0.25 * unit, body_top + 0.42 * unit)
    for side in (-1, 1):
        hip_x = centre_x + side * 0.12 * unit
        foot_x = hip_x + side * scene.pose.stride * 0.07 * unit
        draw.line(((hip_x, body[3] - 0.05 * unit), (foot_x, feet_y - 0.04 * unit)), fill=METAL_DARK, width=round(0.07 * unit))
        draw.rounded_rectangle(
            (foot_x - 0.08 * unit, feet_y - 0.07 * unit, foot_x + 0.08 * unit, feet_y), radius=0.03 * unit, fill=(60, 64, 80)
        )

    shoulder_y = body_top + 0.08 * unit
    draw_arm(draw, (centre_x - 0.24 * unit, shoulder_y), scene.pose.left_arm, -1, unit)
    draw_arm(draw, (centre_x + 0.24 * unit, shoulder_y), scene.pose.right_arm, +1, unit)

    draw.rounded_rectangle(body, radius=0.08 * unit, fill=TEAL, outline=TEAL_DARK, width=line)
    panel = 0.13 * unit
    panel_y = body_top + 0.24 * unit
    draw.ellipse((centre_x - panel, panel_y - panel, centre_x + panel, panel_y + panel), fill=TEAL_LIGHT, outline=TEAL_DARK, width=line)
    button = 0.04 * unit
    draw.ellipse((centre_x - button, panel_y - button, centre_x + button, panel_y + button), fill=(255, 210, 60))

    neck = (centre_x, body_top + 0.01 * unit)
    head = draw_head(image.size, neck, unit, scene.pose)
    image.paste(head, mask=head)

    scarf_top = body_top - 0.035 * unit
    draw.rounded_rectangle(
        (centre_x - 0.2 * unit, scarf_top, centre_x + 0.2 * unit, scarf_top + 0.08 * unit),
        radius=0.04 * unit,
        fill=scene.scarf,
        outline=tuple(c // 2 for c in scene.scarf),
        width=line,
    )
    tail_x = centre_x + 0.1 * unit
    draw.polygon(
        (
            (tail_x, scarf_top + 0.06 * unit),
            (tail_x + 0.08 * unit, scarf_top + 0.06 * unit),
            (tail_x + 0.11 * unit, scarf_top + 0.24 * unit),
            (tail_x + 0.03 * unit, scarf_top + 0.22 * unit),
        ),
        fill=scene.scarf,
        outline=tuple(c // 2 for c in scene.scarf),
    )


def render(scene: Scene) -> Image.Image:
    size = (scene.size[0] * SUPERSAMPLE, scene.size[1] * SUPERSAMPLE)
    # Seeded by the scene's name so that each background's stars and trees stay where they are.
    rng = random.Random(scene.name)
    image = draw_background(scene.background, size, rng)
    draw_robot(image, scene)
    return image.resize(scene.size, Image.Resampling.LANCZOS)


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for scene in SCENES:
        render(scene).save(folder / f"{scene.name}.jpg", quality=92, optimize=True)
        (folder / f"{scene.name}.txt").write_text(scene.caption + "\n", encoding="utf-8")
        print(f"{folder / scene.name}.jpg  {scene.size[0]}x{scene.size[1]}  {scene.caption}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/make_sample_images.py OUTPUT_FOLDER")
    main(Path(sys.argv[1]))

"""Dataset checks, import, face-aware preparation and captions, on real photographs and made-up faults."""

import io
import json
import os
import shutil
import struct
import zlib

import pytest
from conftest import SAMPLE_PROJECT
from PIL import Image, ImageFilter
from skimage import data

from ti_tui.dataset.captions import appending, caption_warnings, captions_of, edit_captions, prepending, removing_word, replacing
from ti_tui.dataset.checks import check_dataset, jpeg_quality
from ti_tui.dataset.faces import detect_faces
from ti_tui.dataset.files import list_image_files
from ti_tui.dataset.importing import import_images
from ti_tui.dataset.prepare import face_crop, prepare_dataset
from ti_tui.dataset.reading import open_image
from ti_tui.errors import UserError

PHOTOS = ("astronaut", "coffee", "camera", "rocket", "chelsea")


def photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(data, name)()).convert("RGB")


def good_set(folder, count: int = 10):
    """Varied sharp photos at least 512 px: the sample project's drawings."""
    folder.mkdir(parents=True, exist_ok=True)
    for image in sorted(SAMPLE_PROJECT.glob("images/*.jpg"))[:count]:
        shutil.copy(image, folder / image.name)
        shutil.copy(image.with_suffix(".txt"), folder / image.with_suffix(".txt").name)
    return sorted(folder.glob("*.jpg"))


def messages(report, name: str) -> str:
    return " | ".join(str(finding) for finding in report.findings if name in finding.subjects)


def about(report, path) -> list:
    return [finding for finding in report.findings if path.name in finding.subjects]


def test_a_good_set_gets_no_findings(tmp_path):
    report = check_dataset(good_set(tmp_path / "images"), resolution=512, kind="subject")
    assert report.findings == []


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose header promises a huge picture: opening it must not try to decode it."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (
            lambda path: photo("astronaut").resize((300, 300)).save(path),
            "smaller than the training size (512 px): it would be enlarged 1.7 times",
        ),
        (lambda path: photo("astronaut").filter(ImageFilter.GaussianBlur(1.5)).save(path), "looks blurry"),
        (
            lambda path: photo("astronaut").crop((0, 200, 512, 380)).resize((1536, 540)).save(path),
            "2.8 times wider than tall: a square crop keeps only 35%",
        ),
        (lambda path: photo("astronaut").save(path, quality=25), "heavily compressed JPEG (quality about 25)"),
        (lambda path: photo("astronaut").quantize(8).convert("RGB").save(path, format="PNG"), "very few colours (8)"),
        (lambda path: Image.new("RGB", (1, 1)).save(path), "is only 1x1 pixels"),
        (lambda path: path.write_bytes(b"\xff\xd8\xff\xe0 this is not a photo"), "cannot be read"),
        (lambda path: path.write_text("just some text"), "is not an image Pillow can read"),
        (lambda path: path.write_bytes(png_header_claiming(20000, 20000)), "too large to open safely (400 megapixels"),
    ],
    ids=["small", "blurry", "aspect", "jpeg", "bit depth", "1x1", "corrupt", "not an image", "bomb"],
)
def test_each_check_fires_on_an_image_made_to_trigger_it(tmp_path, make, expected):
    paths = good_set(tmp_path / "images", count=9)
    faulty = tmp_path / "images" / "faulty.jpg"
    make(faulty)
    report = check_dataset(paths + [faulty], resolution=512, kind="subject")
    assert expected in messages(report, "faulty.jpg")
    assert all(not about(report, path) for path in paths), report.findings


def test_a_truncated_file_is_called_cut_short(tmp_path):
    paths = good_set(tmp_path / "images", count=9)
    whole = io.BytesIO()
    photo("astronaut").save(whole, format="JPEG", quality=95)
    (tmp_path / "images" / "cut.jpg").write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
    report = check_dataset(paths + [tmp_path / "images" / "cut.jpg"], resolution=512, kind="subject")
    assert "is cut short" in messages(report, "cut.jpg")


def test_near_duplicates_are_named_as_a_pair(tmp_path):
    paths = good_set(tmp_path / "images", count=9)
    copy = tmp_path / "images" / "copy-of-hill.jpg"
    Image.open(paths[0]).resize((700, 700)).save(copy, quality=85)
    report = check_dataset(paths + [copy], resolution=512, kind="subject")
    assert f"{paths[0].name} and copy-of-hill.jpg are near-duplicates" in messages(report, "copy-of-hill.jpg")


def test_faces_are_looked_for_in_face_projects(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    photo("astronaut").save(folder / "astronaut.png")
    photo("coffee").resize((768, 512)).save(folder / "coffee.png")
    crowd = Image.new("RGB", (1024, 512), "white")
    crowd.paste(photo("astronaut"), (0, 0))
    crowd.paste(photo("astronaut"), (512, 0))
    crowd.save(folder / "two-astronauts.png")
    report = check_dataset(sorted(folder.iterdir()), resolution=512, kind="face")
    assert messages(report, "astronaut.png") == ""
    assert "No face was found in coffee.png" in messages(report, "coffee.png")
    assert "shows 2 faces" in messages(report, "two-astronauts.png")
    assert "No face" not in str(check_dataset([folder / "coffee.png"], resolution=512, kind="subject").findings)


def test_too_few_and_too_alike(tmp_path):
    few = check_dataset(good_set(tmp_path / "few", count=3), resolution=512, kind="subject")
    assert "Only 3 usable image(s)" in str(few.errors)
    alike = tmp_path / "alike"
    alike.mkdir()
    for index in range(6):
        photo("astronaut").crop((index * 4, 0, 500 + index * 4, 500)).resize((512, 512)).save(alike / f"{index}.png")
    report = check_dataset(sorted(alike.iterdir()), resolution=512, kind="subject")
    assert "The images look much alike" in str(report.findings)


def test_the_jpeg_quality_estimate_follows_the_setting(tmp_path):
    for quality in (20, 50, 75, 95):
        photo("coffee").save(tmp_path / f"{quality}.jpg", quality=quality)
        assert abs(jpeg_quality(tmp_path / f"{quality}.jpg") - quality) <= 2
    photo("coffee").save(tmp_path / "lossless.png")
    assert jpeg_quality(tmp_path / "lossless.png") is None


def test_images_open_upright_and_in_rgb(tmp_path):
    upright = photo("coffee")  # 600 x 400
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90" as phones write it
    upright.rotate(90, expand=True).save(tmp_path / "phone.jpg", exif=exif)
    assert open_image(tmp_path / "phone.jpg").size == (600, 400)
    upright.convert("CMYK").save(tmp_path / "print.jpg")
    assert open_image(tmp_path / "print.jpg").mode == "RGB"
    clear = Image.new("RGBA", (80, 80), (0, 0, 0, 0))
    clear.save(tmp_path / "clear.png")
    assert open_image(tmp_path / "clear.png", background="#ff0000").getpixel((5, 5)) == (255, 0, 0)


def test_import_takes_the_good_files_and_explains_the_rest(tmp_path):
    source = tmp_path / "camera-roll"
    good = good_set(source, count=6)
    Image.new("RGB", (1, 1)).save(source / "dot.png")
    (source / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    (source / "bomb.png").write_bytes(png_header_claiming(20000, 20000))
    (source / "notes.jpg").write_text("shopping list")
    before = {path.name: path.read_bytes() for path in source.iterdir()}

    report = import_images([source], tmp_path / "project" / "images")
    assert sorted(report.imported) == sorted(path.name for path in good)
    refused = " | ".join(report.refused)
    for expected in (
        "dot.png is only 1x1",
        "broken.jpg",
        "bomb.png is too large to open safely (400 megapixels; the limit is 89)",
        "notes.jpg is not an image",
    ):
        assert expected in refused
    assert (tmp_path / "project" / "images" / "01-hill.txt").is_file()  # its caption came along
    assert {path.name: path.read_bytes() for path in source.iterdir()} == before  # sources untouched

    again = import_images([source], tmp_path / "project" / "images")
    assert again.imported == [] and len(again.already_there) == 6


def test_the_face_centred_crop_keeps_the_astronauts_face_inside_and_centred():
    image = photo("astronaut")
    (face,) = detect_faces(image)
    crop = face_crop(image.width, image.height, face, resolution=256)
    left, top, right, bottom = crop.as_tuple()
    assert left <= face.x and top <= face.y and face.x + face.width <= right and face.y + face.height <= bottom
    centre_x, centre_y = face.centre
    assert abs((centre_x - left) / crop.side - 0.5) < 0.05  # across: centred
    assert abs((centre_y - top) / crop.side - 0.4) < 0.05  # down: a little high, leaving room for the head
    assert crop.side >= 256  # never enlarged when the photo is big enough


def test_preparing_twice_does_no_work_and_a_changed_original_is_the_only_one_redone(tmp_path):
    originals = good_set(tmp_path / "images", count=6)
    prepared = tmp_path / "prepared"
    images = tmp_path / "images"
    first = prepare_dataset(originals, images, prepared, 128, "subject", "#ffffff")
    assert len(first.prepared) == 6 and first.unchanged == []
    assert all(Image.open(prepared / name).size == (128, 128) for name in first.prepared)
    assert (prepared / "01-hill.txt").read_text() == (tmp_path / "images" / "01-hill.txt").read_text()

    times = {path.name: path.stat().st_mtime_ns for path in prepared.iterdir()}
    second = prepare_dataset(originals, images, prepared, 128, "subject", "#ffffff")
    assert second.prepared == [] and len(second.unchanged) == 6
    changed = [path.name for path in prepared.iterdir() if path.suffix == ".png" and path.stat().st_mtime_ns != times[path.name]]
    assert changed == []

    Image.open(originals[2]).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(originals[2])
    (prepared / "01-hill.txt").write_text("my own words\n")  # a caption the user edited
    third = prepare_dataset(originals, images, prepared, 128, "subject", "#ffffff")
    assert third.prepared == [originals[2].stem + ".png"]
    assert (prepared / "01-hill.txt").read_text() == "my own words\n"

    manifest = json.loads((prepared / "manifest.json").read_text())["images"]
    assert manifest["01-hill.png"]["original"] == "images/01-hill.jpg"
    assert len(manifest["01-hill.png"]["crop"]) == 4

    gone = originals[5].read_bytes()
    originals[5].unlink()
    fourth = prepare_dataset(originals[:5], images, prepared, 128, "subject", "#ffffff")
    assert fourth.retired == [originals[5].stem + ".png"]
    assert (prepared / "removed" / (originals[5].stem + ".png")).is_file()
    (prepared / "removed" / (originals[5].stem + ".txt")).write_text("caption written after preparing\n")

    originals[5].write_bytes(gone)  # it comes back: so does its caption, not the original's
    fifth = prepare_dataset(originals, images, prepared, 128, "subject", "#ffffff")
    assert fifth.prepared == [originals[5].stem + ".png"]
    assert (prepared / (originals[5].stem + ".txt")).read_text() == "caption written after preparing\n"


def test_bulk_caption_edits(tmp_path):
    folder = tmp_path / "prepared"
    folder.mkdir()
    for name, caption in (("a", "red scarf, on a beach"), ("b", "robot waving, red scarf"), ("c", "")):
        Image.new("RGB", (8, 8)).save(folder / f"{name}.png")
        (folder / f"{name}.txt").write_text(caption)
    assert edit_captions(folder, replacing("red", "blue"), False) == ["a.png", "b.png"]
    assert edit_captions(folder, prepending("photo"), False) == ["a.png", "b.png", "c.png"]
    edit_captions(folder, appending("daylight"), False)
    edit_captions(folder, removing_word("robot"), False)
    assert (folder / "a.txt").read_text() == "photo, blue scarf, on a beach, daylight\n"
    assert (folder / "b.txt").read_text() == "photo, waving, blue scarf, daylight\n"
    assert (folder / "c.txt").read_text() == "photo, daylight\n"
    (folder / "a.txt").write_text("a bored man, red hat, human-like, woman\n")
    assert edit_captions(folder, replacing("man", "person"), False) == ["a.png"]
    assert (folder / "a.txt").read_text() == "a bored person, red hat, human-like, woman\n"
    history = sorted((folder / "caption-history").iterdir())
    assert (history[-1] / "a.txt").read_text() == "a bored man, red hat, human-like, woman\n"

    Image.new("RGB", (8, 8)).save(folder / "04-red car.png")  # captioned by its file name
    assert edit_captions(folder, replacing("red", "blue"), False) == ["a.png"]
    assert edit_captions(folder, replacing("red", "blue"), True) == ["04-red car.png"]
    assert (folder / "04-red car.txt").read_text() == "blue car\n"
    with pytest.raises(UserError, match="would change every caption"):
        replacing("", "-")


def test_caption_warnings_for_the_trigger_and_the_identity(tmp_path):
    folder = tmp_path / "prepared"
    folder.mkdir()
    for name, caption in (("a", "zorbot on a beach"), ("b", "a teal robot in the snow"), ("c", "in the city at night")):
        Image.new("RGB", (8, 8)).save(folder / f"{name}.png")
        (folder / f"{name}.txt").write_text(caption)

    def warnings_of(init_text: str, template: str, from_file_name: bool = False) -> list:
        captions = captions_of(list_image_files(folder), folder, from_file_name)
        return caption_warnings(captions, "zorbot", init_text, template)

    warnings = {warning.subjects[0]: warning.what for warning in warnings_of("robot", "photo_caption")}
    assert set(warnings) == {"a.png", "b.png"}
    assert "names the trigger 'zorbot'" in warnings["a.png"]
    assert "the caption says robot, which is what the embedding should learn" in warnings["b.png"]
    assert not warnings_of("", "caption")  # caption-only templates need the trigger
    (folder / "c.txt").write_text("  \n")
    (folder / "d.png").write_bytes((folder / "a.png").read_bytes())  # and no caption file at all
    (folder / "02.png").write_bytes((folder / "a.png").read_bytes())  # nor words in its name
    empty = {warning.subjects[0] for warning in warnings_of("", "caption") if "is empty" in warning.what}
    assert empty == {"c.png", "d.png", "02.png"}
    named = {warning.subjects[0] for warning in warnings_of("", "caption", from_file_name=True) if "is empty" in warning.what}
    assert named == {"c.png", "02.png"}, "d.png is captioned by its name; an empty caption file is a caption"

    (folder / "c.txt").write_text("a (teal:1.2) [robot] in the city")
    assert "(teal:1.2) is emphasis, which training does not weigh" in str(warnings_of("", "caption"))


@pytest.mark.slow
def test_auto_captions_are_written_once_and_never_over_an_edit_unless_asked(tmp_path, tiny_captioner):
    from ti_tui.dataset.captioner import run_in_worker

    prepared = tmp_path / "prepared"
    prepared.mkdir()
    for image in good_set(tmp_path / "images", count=3):
        Image.open(image).resize((64, 64)).save(prepared / (image.stem + ".png"))
    images = sorted(prepared.glob("*.png"))

    first = list(run_in_worker(str(tiny_captioner), images))
    assert [progress.done for progress in first] == [1, 2, 3]
    captions = {image.name: image.with_suffix(".txt").read_text().strip() for image in images}
    assert all(captions.values())  # nonsense, but written

    images[0].with_suffix(".txt").write_text("my own caption\n")
    again = list(run_in_worker(str(tiny_captioner), images))
    assert images[0].with_suffix(".txt").read_text() == "my own caption\n"
    assert [progress.caption for progress in again if progress.image == images[0].name] == [None]

    list(run_in_worker(str(tiny_captioner), images, overwrite=True))
    assert images[0].with_suffix(".txt").read_text().strip() == captions[images[0].name]


@pytest.mark.slow
def test_a_missing_captioning_model_says_where_to_get_one(tmp_path):
    from ti_tui.dataset.captioner import run_in_worker
    from ti_tui.errors import UserError

    Image.new("RGB", (64, 64)).save(tmp_path / "a.png")
    with pytest.raises(UserError, match="is not on this machine.*hf download Salesforce/blip-image-captioning-large"):
        list(run_in_worker(str(tmp_path / "no-model"), [tmp_path / "a.png"]))


def test_preparing_refuses_when_the_originals_are_not_there(tmp_path):
    from ti_tui.errors import UserError

    originals = good_set(tmp_path / "images", count=5)
    prepare_dataset(originals, tmp_path / "images", tmp_path / "prepared", 128, "subject", "#ffffff")
    with pytest.raises(UserError, match="is not there"):
        prepare_dataset([], tmp_path / "unplugged", tmp_path / "prepared", 128, "subject", "#ffffff")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="none of the 5 images prepared before"):
        prepare_dataset([], tmp_path / "empty", tmp_path / "prepared", 128, "subject", "#ffffff")
    assert len(list((tmp_path / "prepared").glob("*.png"))) == 5


def test_a_damaged_original_keeps_what_was_prepared_from_it(tmp_path):
    originals = good_set(tmp_path / "images", count=5)
    prepare_dataset(originals, tmp_path / "images", tmp_path / "prepared", 128, "subject", "#ffffff")
    originals[1].write_bytes(originals[1].read_bytes()[:2000])
    report = prepare_dataset(originals, tmp_path / "images", tmp_path / "prepared", 128, "subject", "#ffffff")
    assert report.retired == [] and "is cut short" in report.problems[0]
    assert (tmp_path / "prepared" / (originals[1].stem + ".png")).is_file()


def test_a_prepared_image_edited_by_hand_is_kept(tmp_path):
    originals = good_set(tmp_path / "images", count=5)
    prepared = tmp_path / "prepared"
    prepare_dataset(originals, tmp_path / "images", prepared, 128, "subject", "#ffffff")
    retouched = prepared / (originals[0].stem + ".png")
    Image.new("RGB", (128, 128), "purple").save(retouched)
    report = prepare_dataset(originals, tmp_path / "images", prepared, 128, "face", "#ffffff")  # another recipe
    assert report.kept_edits == [retouched.name]
    assert Image.open(retouched).getpixel((5, 5)) == (128, 0, 128)


def test_twins_in_subfolders_keep_their_own_names_and_captions(tmp_path):
    images = tmp_path / "images"
    source = good_set(tmp_path / "pool", count=3)
    for year, picture in zip(("2023", "2024"), source):
        (images / year).mkdir(parents=True)
        shutil.copy(picture, images / year / "IMG_0001.jpg")
    originals = sorted(images.rglob("*.jpg"))
    prepared = tmp_path / "prepared"
    prepare_dataset(originals, images, prepared, 128, "subject", "#ffffff")
    assert sorted(path.name for path in prepared.glob("*.png")) == ["2023--IMG_0001.png", "2024--IMG_0001.png"]
    (prepared / "2023--IMG_0001.txt").write_text("on a green hill\n")
    (images / "2022").mkdir()
    shutil.copy(source[2], images / "2022" / "IMG_0001.jpg")
    prepare_dataset(sorted(images.rglob("*.jpg")), images, prepared, 128, "subject", "#ffffff")
    assert (prepared / "2023--IMG_0001.txt").read_text() == "on a green hill\n"
    manifest = json.loads((prepared / "manifest.json").read_text())["images"]
    assert manifest["2023--IMG_0001.png"]["original"].endswith("2023/IMG_0001.jpg")
    report = check_dataset(sorted(images.rglob("*.jpg")), 128, "subject", folder=images)
    assert {name for finding in report.findings for name in finding.subjects} <= {
        "2022/IMG_0001.jpg",
        "2023/IMG_0001.jpg",
        "2024/IMG_0001.jpg",
    }


def test_stale_prepared_images_block_training_until_prepared_again(trainable_project):
    from ti_tui.usecases.images import prepare_project
    from ti_tui.usecases.summary import summarize_project

    project = trainable_project()
    prepare_project(project)
    assert summarize_project(project).errors == []
    Image.open(project.images_dir / "02-beach.jpg").rotate(5).save(project.images_dir / "02-beach.jpg")
    errors = [str(problem) for problem in summarize_project(project).errors]
    assert len(errors) == 1 and "prepared images are out of date (02-beach.jpg changed)" in errors[0]
    prepare_project(project)
    assert summarize_project(project).errors == []


def test_near_duplicates_are_one_finding_per_group(tmp_path):
    paths = good_set(tmp_path / "images", count=6)
    for number in range(4):
        Image.open(paths[0]).resize((700 - number * 20, 700 - number * 20)).save(tmp_path / "images" / f"copy{number}.jpg")
    report = check_dataset(sorted((tmp_path / "images").glob("*.jpg")), 512, "subject")
    duplicates = [finding for finding in report.findings if finding.check == "duplicate"]
    assert len(duplicates) == 1 and len(duplicates[0].subjects) == 5


def test_deep_and_oddly_stored_pictures_keep_their_brightness(tmp_path):
    import numpy

    grey = numpy.asarray(photo("coffee").convert("L"), dtype=numpy.uint16) * 257
    Image.fromarray(grey).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    assert abs(numpy.asarray(open_image(tmp_path / "deep.png")).mean() - grey.mean() / 257) < 2
    floats = numpy.asarray(photo("coffee").convert("L"), dtype=numpy.float32) / 255
    Image.fromarray(floats).save(tmp_path / "float.tiff")
    assert abs(numpy.asarray(open_image(tmp_path / "float.tiff")).mean() - floats.mean() * 255) < 2
    photo("coffee").convert("P").save(tmp_path / "animated.gif", save_all=True, append_images=[photo("rocket").convert("P")])
    assert open_image(tmp_path / "animated.gif").size == (600, 400)


@pytest.mark.parametrize(("orientation", "turned"), [(3, 180), (6, 90), (8, 270)])
def test_every_phone_orientation_comes_out_upright(tmp_path, orientation, turned):
    upright = photo("coffee")
    exif = Image.Exif()
    exif[0x0112] = orientation
    upright.rotate(turned, expand=True).save(tmp_path / "phone.jpg", exif=exif)
    opened = open_image(tmp_path / "phone.jpg")
    assert opened.size == upright.size
    assert abs(opened.getpixel((100, 100))[0] - upright.getpixel((100, 100))[0]) < 40


def test_the_face_crop_at_512_from_a_larger_photo(tmp_path):
    image = photo("astronaut").resize((1024, 1024))
    (face,) = detect_faces(image)
    crop = face_crop(image.width, image.height, face, resolution=512)
    left, top, right, bottom = crop.as_tuple()
    assert crop.side >= 512 and crop.side < image.width  # a real crop, never enlarged
    assert left <= face.x and face.x + face.width <= right and top <= face.y and face.y + face.height <= bottom
    assert abs((face.centre[0] - crop.left) / crop.side - 0.5) < 0.02


def test_caption_files_in_other_encodings(tmp_path):
    from ti_tui.dataset.captions import read_caption_file
    from ti_tui.errors import UserError

    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "a.txt").write_bytes("\ufeffwith a mark".encode("utf-8"))
    assert read_caption_file(tmp_path / "a.png") == "with a mark"
    (tmp_path / "a.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(UserError, match="a.txt is not UTF-8 text"):
        read_caption_file(tmp_path / "a.png")


def test_between_five_and_ten_images_is_a_warning(tmp_path):
    report = check_dataset(good_set(tmp_path / "images", count=6), resolution=512, kind="subject")
    counts = [finding for finding in report.findings if finding.check == "count"]
    assert [(finding.severity, finding.what) for finding in counts] == [("warning", "Only 6 images.")]


def test_unreadable_images_are_named_to_take_out_and_training_goes_on_once_they_are(trainable_project):
    """Issue 20, Medium 5: a zero-byte file, text named .jpg and two oversized pictures made the summary say "prepared images
    are out of date … prepare them again", and each prepare left them out again, for ever."""
    from ti_tui.findings import Fix
    from ti_tui.usecases.images import prepare_project
    from ti_tui.usecases.summary import summarize_project
    from ti_tui.usecases.training import create_run

    project = trainable_project()
    prepare_project(project)
    unreadable = {
        "11-empty.jpg": b"",
        "12-text.jpg": b"hello, I am not a picture\n",
        "13-huge.png": png_header_claiming(20000, 20000),
        "14-bomb.png": png_header_claiming(12000, 12000),
    }
    for name, content in unreadable.items():
        (project.images_dir / name).write_bytes(content)

    for _ in range(2):  # preparing again changes nothing: the summary says the same, and not "prepare again"
        assert sorted(sentence.split(" ")[0] for sentence in prepare_project(project).problems) == sorted(unreadable)
        errors = summarize_project(project).errors
        assert [error.check for error in errors] == ["unreadable"] * 4, [str(error) for error in errors]
        for error, name in zip(errors, sorted(unreadable)):
            assert error.subjects == (name,) and str(error).startswith(name)
            assert "take it out of training (dataset.exclude) or delete it" in str(error)
            assert error.fix == Fix("edit-setting", "dataset.exclude")
        with pytest.raises(UserError, match="12-text.jpg is not an image"):
            create_run(project, steps=4)

    assert project.update({"dataset.exclude": sorted(unreadable)}).problems == []
    assert summarize_project(project).errors == []
    assert create_run(project, steps=4).facts().steps == 4


def test_the_images_step_says_to_take_out_what_cannot_be_read_not_to_prepare_it(tmp_path):
    """The wizard said "4 not prepared yet: press p" of images that no prepare can read."""
    from ti_tui.dataset.checks import DatasetReport
    from ti_tui.findings import Finding
    from ti_tui.tui.screens.images import ImageRow, _verdict

    def row(name, prepared, *findings):
        return ImageRow(tmp_path / name, name, "?", True, tmp_path / "prepared" / name if prepared else None, list(findings))

    unreadable = Finding("error", "12-text.jpg is not an image Pillow can read.", check="unreadable", subjects=("12-text.jpg",))
    verdict = _verdict([row("01-hill.jpg", True), row("12-text.jpg", False, unreadable)], DatasetReport())
    assert "not prepared yet" not in verdict and "press p" not in verdict
    assert "1 cannot be read (12-text.jpg): take it out (x) or delete it." in verdict
    assert "not prepared yet: press p" in _verdict([row("01-hill.jpg", False)], DatasetReport())


def test_images_that_are_broken_links_are_named_by_check_and_import(trainable_project, tmp_path):
    """Issue 20, Low 6: an image that was a symbolic-link loop (or a link to nothing, a folder, a named pipe)
    was skipped without a word."""
    from ti_tui.usecases.images import check_project_images, prepare_project
    from ti_tui.usecases.training import create_run

    project = trainable_project()
    (project.images_dir / "20-loop.jpg").symlink_to("20-loop.jpg")
    (project.images_dir / "21-gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (project.images_dir / "22-folder.jpg").mkdir()
    os.mkfifo(project.images_dir / "23-pipe.jpg")
    findings = [finding for finding in check_project_images(project).findings if finding.check == "unreadable"]
    said = [str(finding) for finding in findings]
    assert [line for line in said if line.startswith("20-loop.jpg is a symbolic-link loop")], said
    assert [line for line in said if line.startswith(f"21-gone.jpg is a symbolic link to {tmp_path / 'nowhere.jpg'}, which does not exist")]
    assert [line for line in said if line.startswith("22-folder.jpg is a folder, not an image file")], said
    assert [line for line in said if line.startswith("23-pipe.jpg is not a plain file")], said
    # Said as what they are: nothing there to train on, so training goes on without them.
    assert {finding.severity for finding in findings} == {"warning"}
    assert all("Training leaves it out" in line for line in said)
    prepare_project(project)
    create_run(project, steps=2)

    source = tmp_path / "holiday"
    source.mkdir()
    photo("astronaut").save(source / "astronaut.jpg")
    (source / "loop.jpg").symlink_to("loop.jpg")
    report = import_images([source], project.images_dir)
    assert report.imported == ["astronaut.jpg"]
    assert [sentence for sentence in report.refused if sentence.startswith("loop.jpg is a symbolic-link loop")], report.refused

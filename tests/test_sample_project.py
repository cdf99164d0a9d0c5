"""The committed sample project is complete, trainable, and made by the script beside it."""

import subprocess
import sys

import numpy as np
import pytest
from conftest import REPOSITORY, SAMPLE_PROJECT
from PIL import Image

from ti_tui.dataset.files import caption_path, list_image_files
from ti_tui.project import BUILTIN_TINY, Project
from ti_tui.usecases.summary import summarize_project


def test_sample_project_is_complete():
    project = Project.open(SAMPLE_PROJECT)
    assert project.settings.model.base == BUILTIN_TINY
    images = list_image_files(project.images_dir)
    assert 8 <= len(images) <= 12
    for image in images:
        with Image.open(image) as opened:
            assert min(opened.size) >= 512, image.name
        assert caption_path(image).read_text().strip(), image.name
    summary = summarize_project(project)
    assert summary.problems == []


@pytest.mark.slow
def test_sample_images_are_what_the_script_draws(tmp_path):
    subprocess.run([sys.executable, REPOSITORY / "scripts" / "make_sample_images.py", tmp_path], check=True, capture_output=True)
    committed = sorted(path.name for path in (SAMPLE_PROJECT / "images").iterdir())
    assert sorted(path.name for path in tmp_path.iterdir()) == committed
    for name in committed:
        if name.endswith(".txt"):
            assert (tmp_path / name).read_text() == (SAMPLE_PROJECT / "images" / name).read_text()
        else:
            drawn = np.asarray(Image.open(tmp_path / name), dtype=np.float32)
            stored = np.asarray(Image.open(SAMPLE_PROJECT / "images" / name), dtype=np.float32)
            # JPEG encoders differ a little between Pillow builds; the drawing itself must not.
            assert drawn.shape == stored.shape
            assert np.abs(drawn - stored).mean() < 1.0, name

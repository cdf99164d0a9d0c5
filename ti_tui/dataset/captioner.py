"""Automatic captions with BLIP (or any image-to-text model transformers loads the same way).

The model comes from a local folder or the local Hugging Face cache, never from the network. It
runs in a worker process (`python -m ti_tui.dataset.captioner`) that reports progress as JSON
lines, so the wizard stays responsive and a crash in the model cannot take it down.

A caption the user wrote or edited is never replaced unless asked: `captions.json` in the
prepared folder remembers the text each automatic caption had when it was written.
"""

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ti_tui.dataset.captions import read_caption_file, tidy, write_caption_file
from ti_tui.errors import UserError
from ti_tui.fsutil import atomic_write_text

RECORD = "captions.json"
BATCH = 4


@dataclass(frozen=True)
class CaptionProgress:
    done: int
    total: int
    image: str
    caption: str | None  # what was written; None when nothing was
    kept: bool = False  # the user's own caption, left as it was


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read_record(folder: Path) -> dict[str, str]:
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def may_write(image: Path, record: dict[str, str], overwrite: bool) -> bool:
    """A missing caption, or one still exactly as the captioner wrote it, may be (re)written."""
    current = read_caption_file(image)
    return overwrite or current is None or record.get(image.name) == _digest(current)


def caption_images(model_path: str, images: list[Path], overwrite: bool = False):
    """Caption `images` in this process; yields a CaptionProgress per image."""
    from PIL import Image

    from ti_tui.dataset.reading import ImageProblem, open_image

    if not images:
        return
    folder = images[0].parent
    record = _read_record(folder)
    todo = [image for image in images if may_write(image, record, overwrite)]
    done = 0
    for image in images:
        if image not in todo:
            done += 1
            yield CaptionProgress(done, len(images), image.name, None, kept=True)
    processor, model = load_captioner(model_path)
    for start in range(0, len(todo), BATCH):
        batch = todo[start : start + BATCH]
        pictures = []
        for image in batch:
            try:
                pictures.append(open_image(image))
            except ImageProblem:
                pictures.append(Image.new("RGB", (64, 64)))
        for image, caption in zip(batch, describe(processor, model, pictures)):
            done += 1
            if caption:
                write_caption_file(image, caption)
                record[image.name] = _digest(read_caption_file(image))
                atomic_write_text(folder / RECORD, json.dumps(record, indent=1))
            yield CaptionProgress(done, len(images), image.name, caption or None)


def load_captioner(model_path: str):
    import transformers
    from transformers import AutoModelForImageTextToText, AutoProcessor

    transformers.logging.set_verbosity_error()
    try:
        processor = AutoProcessor.from_pretrained(model_path, local_files_only=True)
        model = AutoModelForImageTextToText.from_pretrained(model_path, local_files_only=True)
    except (OSError, ValueError) as error:
        raise UserError(
            f"the captioning model {model_path!r} is not on this machine ({error}). Name a folder holding a "
            "BLIP model (such as Salesforce/blip-image-captioning-large), or download one once while online "
            "(hf download Salesforce/blip-image-captioning-large)"
        ) from None
    return processor, model.eval()


def describe(processor, model, pictures) -> list[str]:
    import torch

    inputs = processor(images=pictures, return_tensors="pt")
    with torch.no_grad():
        tokens = model.generate(**inputs, max_new_tokens=40, min_new_tokens=3)
    return [tidy(text) for text in processor.batch_decode(tokens, skip_special_tokens=True)]


def in_local_cache(model_id: str) -> bool:
    """Whether `model_id` names a model in the local Hugging Face cache, as `--model` of ti-tui caption takes it."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        return isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except (HFValidationError, ValueError):
        return False  # not the shape of an id


def run_in_worker(model_path: str, images: list[Path], overwrite: bool = False, on_start=None):
    """Caption in a worker process; yields its CaptionProgress as they come, raises UserError on failure.

    `on_start(process)` is handed the worker process, which the caller may kill to stop it; closing
    the generator ends it too. The captions written so far are kept either way.
    """
    command = [sys.executable, "-m", "ti_tui.dataset.captioner", "--model", model_path]
    if overwrite:
        command.append("--overwrite")
    command += [os.fspath(image) for image in images]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as worker:
        if on_start is not None:
            on_start(worker)
        try:
            for line in worker.stdout:
                message = json.loads(line)
                if "error" in message:
                    raise UserError(message["error"])
                yield CaptionProgress(**message)
        finally:
            if worker.poll() is None:  # the caller stopped asking (cancelled) or failed: the worker ends too
                worker.kill()
        errors = worker.stderr.read()
    if worker.returncode:
        # The last line that is not a progress bar is the one that says what went wrong.
        said = [line for line in errors.splitlines() if line.strip() and "%|" not in line]
        why = (
            said[-1].strip()
            if said
            else f"it was ended by signal {-worker.returncode}"
            if worker.returncode < 0
            else f"exit code {worker.returncode}"
        )
        raise UserError(f"the captioner stopped before finishing ({why}); the captions written so far are kept, run it again to go on")


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ti_tui.dataset.captioner")
    parser.add_argument("--model", required=True)
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("images", nargs="+", type=Path)
    arguments = parser.parse_args(argv)
    try:
        for progress in caption_images(arguments.model, arguments.images, arguments.overwrite):
            print(json.dumps(progress.__dict__), flush=True)
    except UserError as error:
        print(json.dumps({"error": str(error)}), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

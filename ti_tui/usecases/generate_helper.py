"""Trying the word from the wizard: `generate_images` in a process of its own, so that torch never loads into
the wizard, which starts it and reads what it says.

The wizard writes the request as one JSON line on the helper's stdin; the helper answers with one JSON
object a line on its stdout, as it goes:

    {"doing": "loading", "image": 0, "of": 1}      the model is being loaded, before 1 image
    {"doing": "rendering", "image": 1, "of": 1}    image 1 of 1 is being drawn
    {"wrote": "/project/generated/....png"}        an image written
    {"error": "the model ... does not exist ...", "fix": null}    the last line, when it failed

It exits 0 when every image was written, 1 after an error line. Whatever the model libraries print goes
to its stderr, never between these lines.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from ti_tui.errors import UserError
from ti_tui.findings import Fix

STOP_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class GenerationProgress:
    """What a generation is doing: loading the model before `of` images, or drawing image `image` of `of`."""

    doing: Literal["loading", "rendering"]
    image: int
    of: int


def generate_in_a_helper(
    project_root: Path,
    prompt: str,
    model: str = "",
    cancel: threading.Event | None = None,
    on_progress: Callable[[GenerationProgress], None] = lambda progress: None,
) -> list[Path]:
    """One image of `prompt` (`[name]` is the word) with the project's chosen checkpoint, on `model` ("" = the
    project's), rendered by the helper; `on_progress` is told what it is doing as it says it.

    Returns the images written; [] when `cancel` was set, and the helper ended. The core's own words for
    a problem (a model of another family, a missing file) come back as a UserError.
    """
    request = {"project": os.fspath(project_root), "prompt": prompt, "model": model.strip(), "count": 1}
    written: list[Path] = []
    with (
        tempfile.TemporaryFile("w+", errors="replace") as errors,  # a file, not a pipe: it can never fill and stall the helper
        subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            errors="replace",
        ) as helper,
    ):
        helper.stdin.write(json.dumps(request) + "\n")
        helper.stdin.close()  # and the terminal's keys stay the wizard's
        if cancel is not None:
            threading.Thread(target=_stop_when_asked, args=(helper, cancel), daemon=True).start()
        for line in helper.stdout:
            said = read_line(line)
            if isinstance(said, GenerationProgress):
                on_progress(said)
            else:
                written.append(said)
        helper.wait()
        if cancel is not None and cancel.is_set():
            return []
        if helper.returncode != 0:
            errors.seek(0)
            last = next((line.strip() for line in reversed(errors.read().splitlines()) if line.strip()), "no message")
            raise UserError(f"the renderer stopped with exit code {helper.returncode} ({last})")
    return written


def read_line(line: str) -> GenerationProgress | Path:
    """One line the helper said: what it is doing, or an image it wrote; its error line is raised as the UserError it was."""
    try:
        said = json.loads(line)
        if "error" in said:
            raise UserError(said["error"], Fix(**said["fix"]) if said["fix"] else None)
        if "wrote" in said:
            return Path(said["wrote"])
        return GenerationProgress(said["doing"], said["image"], said["of"])
    except (ValueError, TypeError, KeyError):
        raise UserError(f"the renderer said something it should not have: {line.strip()!r}") from None


def _stop_when_asked(helper: subprocess.Popen, cancel: threading.Event) -> None:
    while helper.poll() is None:
        if cancel.wait(STOP_POLL_SECONDS):
            helper.kill()
            return


def main() -> int:
    lines = sys.stdout
    sys.stdout = sys.stderr  # what the model libraries print is not a line of ours

    def say(**fields) -> None:
        print(json.dumps(fields), file=lines, flush=True)

    from ti_tui.project import Project
    from ti_tui.usecases.generate import GenerationRequest, generate_images

    asked = json.loads(sys.stdin.readline())
    try:
        project = Project.open(Path(asked["project"]))
        request = GenerationRequest(prompt=asked["prompt"], model=asked["model"], count=asked["count"])
        generate_images(
            project,
            request,
            on_image=lambda path: say(wrote=os.fspath(path)),
            on_progress=lambda progress: say(**asdict(progress)),
        )
    except UserError as error:
        say(error=str(error), fix=asdict(error.fix) if error.fix else None)
        return 1
    except OSError as error:  # a full disk, a folder it may not write to: named, as the command names it
        say(error=f"{error.filename or 'a file'}: {error.strerror or error}", fix=None)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

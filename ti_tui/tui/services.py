"""The work the wizard asks of the core, gathered in one place so that tests can swap any of it.

Each is a plain call into the use cases; the screens run the slow ones in worker threads, and the
ones that need torch or transformers run in helper processes of their own.
"""

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ti_tui.dataset.captioner import run_in_worker
from ti_tui.dataset.importing import import_images
from ti_tui.errors import UserError
from ti_tui.sd.device import probe_in_a_helper
from ti_tui.sd.fetch import fetch_missing
from ti_tui.usecases.images import check_project_images, prepare_project
from ti_tui.usecases.journey import step_states
from ti_tui.usecases.recent import Memory
from ti_tui.usecases.summary import summarize_project
from ti_tui.usecases.token_check import TokenChecker

# The sample project sits beside the package in a clone of the repository.
SAMPLE_PROJECT = Path(__file__).resolve().parent.parent.parent / "sample_project"
WROTE = "Wrote "  # how `ti-tui generate` names each image it wrote, one a line
STOP_POLL_SECONDS = 0.2


def generate_in_a_helper(project_root: Path, prompt: str, model: str = "", cancel: threading.Event | None = None) -> list[Path]:
    """One image of `prompt` (`[name]` is the word) with the project's chosen checkpoint, on `model` ("" = the
    project's), rendered by `ti-tui generate` in a process of its own so that torch never loads here.

    Returns the images written; [] when `cancel` was set, and the process ended. The command's own
    words for a problem (a model of another family, a missing file) come back as a UserError.
    """
    command = [sys.executable, "-m", "ti_tui", "generate", "-n", "1"]
    if model.strip():
        command += ["--model", model.strip()]
    command += ["--", os.fspath(project_root), prompt]  # a prompt may start with a dash
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,  # the terminal's keys are the wizard's
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    while True:
        try:
            output, errors = process.communicate(timeout=STOP_POLL_SECONDS)
            break
        except subprocess.TimeoutExpired:
            if cancel is not None and cancel.is_set():
                process.kill()
                process.communicate()
                return []
    written = [Path(line[len(WROTE) :].strip()) for line in output.splitlines() if line.startswith(WROTE)]
    if process.returncode == 0 and written:
        return written
    lines = errors.splitlines()
    said = next((index for index, line in enumerate(lines) if line.startswith("ti-tui: ")), None)
    if said is not None:  # the message, and the findings listed under it
        raise UserError("\n".join(lines[said:]).removeprefix("ti-tui: ").strip())
    last = next((line.strip() for line in reversed(errors.splitlines()) if line.strip()), "no message")
    raise UserError(f"the renderer stopped with exit code {process.returncode} ({last})")


@dataclass
class Services:
    summarize: Callable = summarize_project
    step_states: Callable = step_states
    check_images: Callable = check_project_images
    prepare: Callable = prepare_project
    import_images: Callable = import_images
    fetch: Callable = fetch_missing
    caption: Callable = run_in_worker  # (model, images, overwrite) -> progress, in a helper process
    token_checker: Callable = TokenChecker  # (project root) -> an object with ask(question) and close()
    probe_device: Callable = probe_in_a_helper  # (device setting, precision setting) -> DeviceProbe
    generate: Callable = generate_in_a_helper  # (project root, prompt, model, cancel event) -> images written, in a helper process
    memory: Memory = field(default_factory=Memory)
    sample_project: Path | None = SAMPLE_PROJECT if (SAMPLE_PROJECT / "project.toml").is_file() else None

"""The work the wizard asks of the core, gathered in one place so that tests can swap any of it.

Each is a plain call into the use cases; the screens run the slow ones in worker threads, and the
ones that need torch or transformers run in helper processes of their own.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ti_tui.dataset.captioner import run_in_worker
from ti_tui.dataset.importing import import_images
from ti_tui.sd.device import probe_in_a_helper
from ti_tui.sd.fetch import fetch_missing
from ti_tui.sd.work import work_in_a_helper
from ti_tui.usecases.generate_helper import generate_in_a_helper
from ti_tui.usecases.images import check_project_images, prepare_project
from ti_tui.usecases.journey import step_states
from ti_tui.usecases.recent import Memory
from ti_tui.usecases.summary import summarize_project
from ti_tui.usecases.token_check import TokenChecker

# The sample project sits beside the package in a clone of the repository.
SAMPLE_PROJECT = Path(__file__).resolve().parent.parent.parent / "sample_project"


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
    count_model_work: Callable = work_in_a_helper  # (UNet config, VAE config, resolution) -> ModelWork, kept in the cache
    # (project root, prompt, model, cancel event, on_progress) -> images written, in a helper process
    generate: Callable = generate_in_a_helper
    memory: Memory = field(default_factory=Memory)
    sample_project: Path | None = SAMPLE_PROJECT if (SAMPLE_PROJECT / "project.toml").is_file() else None

"""For the wizard's tests: stand-ins for its slow helpers (so that screen tests never import torch), and waiting."""

import shutil
from pathlib import Path

from conftest import SAMPLE_PROJECT
from textual.worker import WorkerCancelled

from ti_tui.dataset.captioner import CaptionProgress
from ti_tui.dataset.captions import write_caption_file
from ti_tui.sd.device import DeviceProbe
from ti_tui.tui.services import Services
from ti_tui.usecases.recent import Memory
from ti_tui.usecases.token_check import TokenQuestion, TokenReport

CPU = DeviceProbe("cpu", "CPU, 2 cores", "float32", 16 * 2**30, 8 * 2**30, 100.0)


class FakeTokenChecker:
    """Splits words into pieces of three letters, as a tokenizer splits made-up words into a few."""

    def __init__(self, project_root: Path):
        self.asked: list[TokenQuestion] = []

    def ask(self, question: TokenQuestion) -> TokenReport:
        self.asked.append(question)

        def pieces(text: str) -> list[str]:
            return [text[index : index + 3] for index in range(0, len(text), 3)] if text else []

        return TokenReport(pieces(question.trigger), [], [], pieces(question.init_text), 1, "1 vector(s) for 10 images.")

    def close(self) -> None:
        pass


def fake_captioner(model: str, images: list[Path], overwrite: bool = False, on_start=None):
    for number, image in enumerate(images, start=1):
        write_caption_file(image, "a drawing in bright colours")
        yield CaptionProgress(number, len(images), image.name, "a drawing in bright colours")


def fake_services(data_dir: Path, **changes) -> Services:
    return Services(
        token_checker=FakeTokenChecker,
        probe_device=lambda device, precision: CPU,
        caption=fake_captioner,
        memory=Memory(data_dir),
        sample_project=SAMPLE_PROJECT,
        **changes,
    )


def write_checkpoints(run, steps=(2, 4)) -> None:
    """Checkpoints at `steps` in `run`, as a trainer saves them, of made-up vectors for builtin:tiny (width 768)."""
    import torch

    from ti_tui.embedding.files import Embedding, write_embedding

    trigger = run.facts().settings.token.trigger
    run.checkpoints_dir.mkdir(exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    for step in steps:
        vectors = torch.randn(2, 768, generator=generator) * 0.4
        write_embedding(Embedding(vectors, trigger=trigger, step=step), run.checkpoint_paths(trigger, step).embedding, "safetensors")


def copy_of_sample(folder: Path) -> Path:
    shutil.copytree(SAMPLE_PROJECT, folder, ignore=shutil.ignore_patterns("runs", "prepared", "exports", "grids", "generated"))
    return folder


async def settle(app, pilot) -> None:
    """Until the workers are done and what they posted is on the screen; no sleeping."""
    for _ in range(3):
        await pilot.pause()
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:
            pass  # replaced by a newer look at the files, which the next round waits for
    await pilot.pause()

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
SAMPLE_PROJECT = REPOSITORY / "sample_project"

_scratch = Path(tempfile.mkdtemp(prefix="ti-tui-tests-"))


def pytest_addoption(parser):
    parser.addoption(
        "--busy-cores",
        type=int,
        default=0,
        metavar="N",
        help="keep N cores busy with spinning processes for the whole session, to show that no test depends on a quiet machine",
    )


# Each spins until it is killed; it also stops by itself once pytest is gone, killed or not.
_SPIN = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    sum(range(100_000))\n"
_spinners: list[subprocess.Popen] = []


def spinning(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", _SPIN]) for _ in range(count)]


@pytest.fixture
def busy_cores():
    """Two processes spinning for the whole test, as another job on a two-core machine would."""
    spinners = spinning(2)
    yield
    for spinner in spinners:
        spinner.kill()
        spinner.wait()


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # once, in the process that hands the tests to pytest-xdist's workers
        _spinners.extend(spinning(config.getoption("busy_cores")))
    elif config.workerinput["workercount"] > 1:
        # One thread each for torch, and for the trainers and helpers a test starts: the workers share the
        # cores, and torch's threads spin-waiting for a core that another worker holds cost ten times over.
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    # Before anything imports huggingface_hub: the tests own their caches and never go online.
    os.environ["TI_TUI_CACHE_DIR"] = str(_scratch / "ti-tui-cache")
    os.environ["TI_TUI_DATA_DIR"] = str(_scratch / "ti-tui-data")
    os.environ["HF_HOME"] = str(_scratch / "hf-home")
    os.environ["HF_HUB_OFFLINE"] = "1"
    # Images in the wizard are drawn at a fixed cell size, as textual-image's own tests draw them,
    # rather than one asked of whatever terminal runs the tests.
    from textual_image._terminal import CellSize, get_cell_size

    get_cell_size._result = CellSize(10, 20)
    # A pilot's key press waits twice for the process to look idle, judged over 20 ms windows: some 80 ms
    # a key, a fifth of the quick set. The tests wait on signals (wizard_support.settle), not on that
    # guess, so a 5 ms window loses nothing and types four times as fast.
    import textual._wait

    textual._wait.SLEEP_GRANULARITY = 1 / 200
    textual._wait.SLEEP_IDLE = textual._wait.SLEEP_GRANULARITY / 20
    # Tabs switched and pages scrolled at once: while an animation runs the process is busy, and a pilot
    # waits that out (up to a second) after each key. The variable reaches the wizards the tests start in a
    # terminal; the constant, the apps built here (Textual read it when pytest's plugins imported Textual).
    import textual.constants

    os.environ["TEXTUAL_ANIMATIONS"] = "none"
    textual.constants.TEXTUAL_ANIMATIONS = "none"
    # A text field's cursor blinks every half second: a screenshot would catch it on or off by chance.
    from textual.widgets import Input

    Input._toggle_cursor = lambda field: None


FAULT_SUITE = REPOSITORY / "tests" / "faults"


def pytest_ignore_collect(collection_path, config):
    """The fault-injection suite kills and resumes some twenty real runs (about eight minutes here): it runs
    when named, `pytest tests/faults`, and stays out of the everyday suite that must end within fifteen."""
    if Path(collection_path) != FAULT_SUITE:
        return None
    named = [Path(argument.split("::")[0]).resolve() for argument in config.args]
    return not any(path == FAULT_SUITE or FAULT_SUITE in path.parents for path in named)


FAULT_COUNTS = ("injected", "survived", "files_intact")
_faults_in_workers = dict.fromkeys(FAULT_COUNTS, 0)


def fault_counts() -> dict[str, int]:
    """This process's ledger of tests/faults, and those that pytest-xdist's workers sent back."""
    ledger = getattr(sys.modules.get("fault_support"), "LEDGER", None)
    return {name: getattr(ledger, name, 0) + _faults_in_workers[name] for name in FAULT_COUNTS}


def pytest_sessionfinish(session):
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["faults"] = fault_counts()


def pytest_testnodedown(node, error):
    for name, count in getattr(node, "workeroutput", {}).get("faults", {}).items():
        _faults_in_workers[name] += count


def pytest_terminal_summary(terminalreporter):
    """After tests/faults: one line counting the faults injected, the runs that survived them, the files found whole."""
    counts = fault_counts()
    if counts["injected"]:
        terminalreporter.write_line(
            f"faults: {counts['injected']} injected, {counts['survived']} survived, {counts['files_intact']} files checked intact"
        )


def pytest_unconfigure(config):
    for spinner in _spinners:
        spinner.kill()
        spinner.wait()
    shutil.rmtree(_scratch, ignore_errors=True)


@pytest.fixture(params=["native", "emulated"], ids=["native-bf16", "emulated-bf16"])
def cpu_bf16(request, monkeypatch) -> str:
    """Runs a test as on a CPU that computes bf16 itself and as on one that emulates it.

    Through TI_TUI_CPU_BF16, which the trainer processes the test starts inherit: precision "auto"
    then trains in bf16 on one side and in fp32 on the other, on any machine. Returns the dtype
    "auto" must choose, as the trainer's config event names it.
    """
    monkeypatch.setenv("TI_TUI_CPU_BF16", request.param)
    return "bfloat16" if request.param == "native" else "float32"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "cpu_bf16" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.precision)


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    from ti_tui.sd.tiny import ensure_builtin_tiny

    return ensure_builtin_tiny()


def run_ti_tui(*arguments: str, cwd: Path | None = None, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed command the way a user does, in a fresh process; `env` adds to the environment."""
    return subprocess.run(
        [sys.executable, "-m", "ti_tui", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def ti_tui_in_process(*arguments: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """`ti-tui` called as its entry point calls it, in this process: its exit status and what it printed, as
    run_ti_tui gives them, without the second or two a fresh interpreter spends importing torch. For what a
    command says and writes; run_ti_tui stays for what only a process shows (a start, a kill, a closed pipe)."""
    from ti_tui.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd or os.getcwd()), environment(env or {}), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(list(arguments))
        except SystemExit as exit:  # argparse's way out of a bad option
            status = exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 1
    return subprocess.CompletedProcess(["ti-tui", *arguments], status, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def environment(changes: dict):
    before = dict(os.environ)
    os.environ.update(changes)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(before)


def wait_for(condition, timeout: float = 300, what: str = "the condition"):
    """Until `condition()` gives something true, which is returned; a test fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_model_dir, tmp_path_factory) -> Path:
    """builtin:tiny as one original-layout .safetensors file, as community models are shared."""
    from ti_tui.sd.ldm_layout import write_single_file_checkpoint

    path = tmp_path_factory.mktemp("checkpoints") / "tiny.safetensors"
    write_single_file_checkpoint(tiny_model_dir, path)
    return path


@pytest.fixture
def sample(tmp_path, no_pictures):
    """A copy of the sample project for a wizard test, its pictures not drawn."""
    from wizard_support import copy_of_sample

    from ti_tui.project import Project

    return Project.open(copy_of_sample(tmp_path / "sample"))


@pytest.fixture(scope="module")
def snapshot_home(tmp_path_factory):
    """The home folder while a module takes its snapshots, which hold the module's projects. The wizard shows a
    path in the home folder as ~/..., so the snapshots read the same in every run, wherever pytest's folders are."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        yield home


@pytest.fixture
def half_blocks(monkeypatch):
    """Pictures in the wizard drawn in half-block characters, the same on every terminal and in every snapshot."""
    monkeypatch.setenv("TI_TUI_IMAGES", "halfcell")


@pytest.fixture
def no_pictures(monkeypatch):
    """The wizard's pictures not drawn, for tests of everything else on its screens."""
    monkeypatch.setenv("TI_TUI_IMAGES", "off")


def events_of(run, kind: str) -> list[dict]:
    return [event for event in run.events() if event["type"] == kind]


@pytest.fixture
def trained_sample(sample):
    """The sample copy with one 4-step run whose checkpoints at steps 2 and 4 are written, not trained."""
    from wizard_support import write_checkpoints

    from ti_tui.usecases.training import create_run

    sample.update({"preview.every": 0})
    write_checkpoints(create_run(sample, steps=4))
    return sample


@pytest.fixture
def services(tmp_path):
    """The wizard's services with stand-ins for its slow helpers (tests/wizard_support.py)."""
    from wizard_support import fake_services

    return fake_services(tmp_path / "data")


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    import socket

    def refuse(*arguments, **keywords):
        raise AssertionError(f"a network connection was attempted: {arguments}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache for this test; returns a function that puts a repo's files in it."""
    import huggingface_hub.constants

    folder = tmp_path / "hub-cache"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(folder))

    def put(repo: str, files: dict[str, bytes]) -> Path:
        # The layout huggingface_hub leaves behind after a download: refs/main names a snapshot.
        cache = folder / f"models--{repo.replace('/', '--')}"
        revision = "0" * 40
        (cache / "refs").mkdir(parents=True, exist_ok=True)
        (cache / "refs" / "main").write_text(revision)
        snapshot = cache / "snapshots" / revision
        for name, data in files.items():
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            (snapshot / name).write_bytes(data)
        return snapshot

    return put


@pytest.fixture
def tiny_variant(tiny_model_dir, tmp_path):
    """A diffusers folder that links to builtin:tiny's parts, except those left out or given instead."""

    def make(leave_out: tuple[str, ...] = (), replace: dict[str, Path] | None = None) -> Path:
        folder = tmp_path / "variant"
        folder.mkdir()
        for part in ("model_index.json", "scheduler", "vae", "text_encoder", "tokenizer", "unet"):
            if part in (replace or {}):
                (folder / part).symlink_to(replace[part])
            elif part not in leave_out:
                (folder / part).symlink_to(tiny_model_dir / part)
        return folder

    return make


@pytest.fixture
def trainable_project(tmp_path):
    """A copy of the sample project whose settings a test adjusts: make(**{"training.steps": 20}). Without
    previews or validation losses, which take most of a short run's time, unless a test asks for them."""

    from ti_tui.project import Project

    def make(name: str = "project", **changes) -> Project:
        root = tmp_path / name
        shutil.copytree(SAMPLE_PROJECT, root, ignore=shutil.ignore_patterns("runs", "prepared", "exports", "grids", "generated"))
        project = Project.open(root)
        settings = project.settings.model_copy(deep=True)
        for dotted, value in {"preview.every": 0, "training.validation_every": 0, **changes}.items():
            section, key = dotted.split(".")
            setattr(getattr(settings, section), key, value)
        project.store.save(settings)
        return project

    return make


@pytest.fixture(scope="session")
def tiny_captioner(tmp_path_factory) -> Path:
    """A tiny random BLIP with a small word-piece vocabulary: it writes nonsense captions, quickly."""
    import torch
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipProcessor
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    folder = tmp_path_factory.mktemp("tiny-blip")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "photo", "of", "robot", "on", "the", "beach", "sky", "blue", "red"]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    tokenizer = BertTokenizer(str(folder / "vocab.txt"), bos_token="[DEC]")
    processor = BlipProcessor(image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}), tokenizer=tokenizer)
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    config = BlipConfig(
        vision_config=dict(small, image_size=32, patch_size=16),
        text_config=dict(
            small,
            vocab_size=len(tokenizer),
            encoder_hidden_size=32,
            max_position_embeddings=64,
            bos_token_id=tokenizer.convert_tokens_to_ids("[DEC]"),
            pad_token_id=0,
            sep_token_id=3,
        ),
        projection_dim=32,
    )
    torch.manual_seed(0)
    BlipForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder

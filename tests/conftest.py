import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
SAMPLE_PROJECT = REPOSITORY / "sample_project"

_scratch = Path(tempfile.mkdtemp(prefix="ti-tui-tests-"))


def pytest_configure(config):
    # Before anything imports huggingface_hub: the tests own their caches and never go online.
    os.environ["TI_TUI_CACHE_DIR"] = str(_scratch / "ti-tui-cache")
    os.environ["HF_HOME"] = str(_scratch / "hf-home")
    os.environ["HF_HUB_OFFLINE"] = "1"


def pytest_unconfigure(config):
    shutil.rmtree(_scratch, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    from ti_tui.sd.tiny import ensure_builtin_tiny

    return ensure_builtin_tiny()


def run_ti_tui(*arguments: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the installed command the way a user does, in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "ti_tui", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )

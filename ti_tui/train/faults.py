"""Faults on purpose, for the tests that prove the trainer survives them.

Set `TI_TUI_FAULTS` to comma-separated `name=step` pairs:
  nan_at=N        the loss of step N comes out NaN (once)
  kill_at=N       the trainer kills itself with SIGKILL right after step N
  disk_full_at=N  saving the checkpoint at step N fails as if the disk were full
  oom_at=N        step N runs out of device memory (once)
Unset, nothing happens; users never need it.
"""

import errno
import os
import signal

ENVIRONMENT_VARIABLE = "TI_TUI_FAULTS"


class Faults:
    def __init__(self, text: str | None = None):
        text = os.environ.get(ENVIRONMENT_VARIABLE, "") if text is None else text
        self.steps = {name.strip(): int(step) for name, _, step in (item.partition("=") for item in text.split(",") if item.strip())}

    def loss(self, step: int, loss):
        if self.steps.get("nan_at") == step:
            del self.steps["nan_at"]
            return loss * float("nan")
        return loss

    def after_step(self, step: int) -> None:
        if self.steps.get("kill_at") == step:
            os.kill(os.getpid(), signal.SIGKILL)

    def before_save(self, step: int) -> None:
        if self.steps.get("disk_full_at") == step:
            raise OSError(errno.ENOSPC, "No space left on device")

    def in_step(self, step: int) -> None:
        if self.steps.get("oom_at") == step:
            import torch

            del self.steps["oom_at"]
            raise torch.OutOfMemoryError(f"out of memory at step {step} (injected)")

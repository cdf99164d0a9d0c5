"""Watching a run from a terminal: a progress line on a TTY, plain lines in a log or a pipe."""

import sys
import time
from typing import TextIO

from ti_tui.train.run import FINAL_EVENT, EventTail, RunDirectory, run_status

POLL_SECONDS = 0.25
STATUS_EVERY_SECONDS = 2.0


class ProgressPrinter:
    def __init__(self, out: TextIO, interactive: bool):
        self.out, self.interactive = out, interactive
        self.line_open = False

    def show(self, event: dict) -> None:
        kind = event["type"]
        if kind == "step":
            self._step(event)
        elif kind == "caching":
            if self.interactive:
                self._rewrite(f"Caching latents {event['done']}/{event['total']}")
            elif event["done"] == event["total"]:
                self.say(f"Cached the latents of {event['total']} images")
        elif kind in _SENTENCES:
            self.say(_SENTENCES[kind](event))

    def _step(self, event: dict) -> None:
        step, total = event["step"], event["total"]
        speed = event.get("steps_per_s")
        eta = event.get("eta_s")
        text = (
            f"step {step}/{total}  loss {event['loss']:.4f} (smoothed {event['loss_smoothed']:.4f})  "
            f"lr {event['lr']:.2g}  {f'{speed:.2f} steps/s' if speed else ''}  "
            f"{f'ETA {_duration(eta)}' if eta is not None else ''}"
        ).rstrip()
        if self.interactive:
            done = int(24 * step / total)
            self._rewrite(f"[{'#' * done}{'.' * (24 - done)}] {text}")
        elif step == total or step % max(1, total // 20) == 0:
            self.say(text)

    def _rewrite(self, text: str) -> None:
        self.out.write("\r" + text + "\x1b[K")
        self.out.flush()
        self.line_open = True

    def say(self, text: str) -> None:
        if self.line_open:
            self.out.write("\n")
            self.line_open = False
        self.out.write(text + "\n")
        self.out.flush()


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


_SENTENCES = {
    "started": lambda event: f"Trainer started (process {event['pid']})",
    "loading": lambda event: f"Loading {event['model']}",
    "resumed_from": lambda event: f"Resuming from the checkpoint at step {event['step']}",
    "config": lambda event: (
        f"Training steps {event['start_step'] + 1}-{event['steps']} on {event['images']} images at {event['resolution']} px, "
        f"{event['vectors']} vector(s), batch {event['batch_size']} x {event['gradient_accumulation']}"
        + (f" x {event['processes']} processes" if event["processes"] > 1 else "")
        + f" ({event['device']}, {event['dtype']})"
        + f"\nMemory needed: {event['memory_estimate']}"
    ),
    "validation": lambda event: f"step {event['step']}: validation loss {event['loss']:.4f}",
    "checkpoint": lambda event: f"step {event['step']}: saved {event['path']}",
    "preview": lambda event: f"step {event['step']}: preview {event['path']}",
    "paused": lambda event: f"Paused at step {event['step']}",
    "resumed": lambda event: f"Going on from step {event['step']}",
    "warning": lambda event: f"warning: {event['message']}",
    "error": lambda event: f"error: {event['message']}",
    FINAL_EVENT: lambda event: f"Run {event['reason']}: {event['message']}",
}


def follow(run: RunDirectory, process=None, out: TextIO = sys.stdout, since: int = 0) -> dict | None:
    """Print the run's events from byte `since` on, until it ends; returns the final event, or None if lost."""
    printer = ProgressPrinter(out, interactive=out.isatty())
    tail = EventTail(run.events_file)
    tail.offset = since
    last_check = time.monotonic()
    while True:
        for event in tail.read_new():
            printer.show(event)
            if event["type"] == FINAL_EVENT:
                return event
        if process is not None:
            process.poll()  # reaps the trainer once it exits, so it is not mistaken for alive
        if time.monotonic() - last_check > STATUS_EVERY_SECONDS:
            last_check = time.monotonic()
            status = run_status(run)
            if status.state == "lost":
                for event in tail.read_new():  # written just before the end
                    printer.show(event)
                    if event["type"] == FINAL_EVENT:
                        return event
                printer.say(f"The trainer is gone: {status.describe()}")
                return None
        time.sleep(POLL_SECONDS)

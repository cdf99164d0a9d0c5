"""Watching a run from a terminal: a progress line on a TTY, plain lines in a log or a pipe."""

import sys
from pathlib import Path
from typing import TextIO

from ti_tui.commands import with_command
from ti_tui.runs import FINAL_EVENT, RunDirectory, RunWatcher, describe_event, event_fix, follow_run, run_status

BAR_WIDTH = 24


class ProgressPrinter:
    def __init__(self, out: TextIO, interactive: bool, project: Path | None = None):
        self.out, self.interactive, self.project = out, interactive, project
        self.line_open = False

    def show(self, event: dict) -> None:
        kind, text = event["type"], describe_event(event)
        if text is None:
            return
        if kind == "step":
            step, total = event["step"], event["total"]
            if self.interactive:
                done = int(BAR_WIDTH * step / total)
                self._rewrite(f"[{'#' * done}{'.' * (BAR_WIDTH - done)}] {text}")
            elif step == total or step % max(1, total // 20) == 0:
                self.say(text)
        elif kind == "caching":
            if self.interactive:
                self._rewrite(text)
            elif event["done"] == event["total"]:
                self.say(f"Cached the latents of {event['total']} images")
        elif kind in ("validating", "previewing"):
            if self.interactive:
                self._rewrite(text)  # a line that counts up; the result then has a line of its own
        elif kind in ("error", "warning", FINAL_EVENT):
            self.say(with_command(text, event_fix(event), self.project))
        else:
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


def follow(run: RunDirectory, watcher: RunWatcher, process=None, out: TextIO | None = None, project: Path | None = None) -> dict | None:
    """Print the run's events that `watcher` has not passed on yet, to `out` (sys.stdout as it is at the
    call), until the run ends; returns the final event, or None when there is none: the trainer was lost,
    or its final event was (with the event log), and the run's folder tells how it ended."""
    out = out or sys.stdout
    printer = ProgressPrinter(out, interactive=out.isatty(), project=project)
    reap = process.poll if process is not None else None  # a finished trainer must not look alive
    for event in follow_run(run, watcher, between_polls=reap):
        printer.show(event)
        if event["type"] == FINAL_EVENT:
            return event
    status = run_status(run)
    opening = "Run" if status.state == "finished" else "The trainer is gone:"
    printer.say(with_command(f"{opening} {status.describe()}", status.fix, project))
    return None

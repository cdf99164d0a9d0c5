"""A training run on disk and the protocol between its trainer and whoever watches it; needs no torch."""

from ti_tui.runs.directory import Checkpoint, RunDirectory, RunFacts, RunImage
from ti_tui.runs.events import FINAL_EVENT, EventWriter, RunWatcher, describe_event, event_fix
from ti_tui.runs.status import RunStatus, follow_run, run_status

__all__ = [
    "FINAL_EVENT",
    "Checkpoint",
    "EventWriter",
    "RunDirectory",
    "RunFacts",
    "RunImage",
    "RunStatus",
    "RunWatcher",
    "describe_event",
    "event_fix",
    "follow_run",
    "run_status",
]

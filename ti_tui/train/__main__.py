"""`python -m ti_tui.train RUN_DIR`: the trainer process. Started detached, so it outlives its starter.

Its standard output and error are the run's trainer.log: the trainer says there what it does and how
the run ended, and a bug leaves its traceback there.
"""

import os
import signal
import sys
from pathlib import Path

from ti_tui.errors import UserError
from ti_tui.runs.directory import RunDirectory, TrainerLock


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m ti_tui.train RUN_DIR", file=sys.stderr)
        return 2
    run = RunDirectory(Path(argv[0]))
    try:
        # In a data-parallel run the first process speaks for the run, and holds its lock.
        lock = TrainerLock(run) if os.environ.get("RANK", "0") == "0" else None
        # Only now torch: whoever started this process waits for the lock, not for a slow import.
        from ti_tui.train.engine import Trainer

        trainer = Trainer(run)
    except UserError as error:
        print(f"ti-tui trainer: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # the lock file cannot be made: no such folder, or no permission
        print(f"ti-tui trainer: {error.filename or run.path}: {error.strerror or error}", file=sys.stderr)
        return 2
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda number, frame: trainer.request_stop(f"stopped by signal {signal.Signals(number).name}"))
    # The trainer has its own session; a hang-up from a closing terminal is no reason to stop.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    reason = trainer.run()
    if lock is not None:
        lock.release()
    return 0 if reason == "completed" else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

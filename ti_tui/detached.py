"""Processes that outlive their starter (the trainer, the grid renderer), and the locks that say they live.

A detached process runs in a session of its own, with no terminal, its output going to a log file:
closing the wizard or losing the SSH link does not reach it. It holds an exclusive lock on a file
for its whole life; the kernel lets go of the lock when the process ends, even on kill -9, so
"the lock is held" means "the process is alive".
"""

import fcntl
import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from ti_tui.errors import UserError


def spawn_detached(command: list[str], log_file: Path, cwd: Path) -> tuple[subprocess.Popen, float | None]:
    """Start `command` in a new session, stdin from /dev/null, output appended to `log_file`.

    Returns the process and its own start time (None when it is already gone), which tells it
    apart from a later process that is given the same number.
    """
    import psutil

    with open(log_file, "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=cwd,
        )
    try:
        return process, psutil.Process(process.pid).create_time()
    except psutil.Error:
        return process, None


class WorkFolder:
    """The folder a detached process works in (a run's, a grid's): named by its folder, alive while its lock is held."""

    lock_name = "process.lock"

    def __init__(self, path: Path):
        self.path = Path(path)

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and self.path == other.path

    def __hash__(self) -> int:
        return hash(self.path)

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def lock_file(self) -> Path:
        return self.path / self.lock_name

    def is_locked(self) -> bool:
        """Whether its process holds the folder's lock, that is, is alive."""
        return lock_is_held(self.lock_file)


def lock_is_held(lock_file: Path) -> bool:
    """Whether a process holds `lock_file`'s lock, that is, is alive."""
    try:
        with open(lock_file, "rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False
    except FileNotFoundError:
        return False


@contextmanager
def starting_one_at_a_time(project_root: Path):
    """Held while a detached process (a trainer, a grid renderer) is being started on a project, until it
    holds its own lock (before that, only guesses from its process say it lives): starters at the same
    moment take turns, and each sees what the one before it started. A lock on the project's folder
    itself, so that no file is added to it for the purpose."""
    folder = os.open(project_root, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # and the lock goes with it


def wait_for_its_lock(work: WorkFolder, process: subprocess.Popen, grace_seconds: float) -> None:
    """Until the process started to work in `work` holds its lock, or has ended, or `grace_seconds` have passed.

    Before that only its process number and start time say it lives, and a wall clock that moves
    (or a process slow to import) makes those say it is gone: a starter that came next would start
    a second one. Once it holds the lock, the lock alone says so.
    """
    deadline = time.monotonic() + grace_seconds
    while not work.is_locked() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)


class LifeLock:
    """A process's claim on its folder, held until the process ends."""

    def __init__(self, lock_file: Path, taken_message: str):
        self.handle = open(lock_file, "a+b")  # noqa: SIM115 - held open, and locked, for the process's life
        for _ in range(50):  # a watcher checking liveness holds a shared lock for a moment
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                time.sleep(0.1)
        self.handle.close()
        raise UserError(taken_message)

    def release(self) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def process_alive(pid: int | None, started: float | None) -> bool:
    """Whether process `pid` runs and is the one that started at `started` (not a later one with its number)."""
    import psutil

    if not pid:
        return False
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and (started is None or abs(process.create_time() - started) < 1.0)
    except psutil.Error:
        return False


def end_helper_processes() -> None:
    """Ends the processes this one started in its own session: the helpers that answer it (device probe,
    tokenizer, captioner, a try-it render), which a closing front end would otherwise wait for. Trainers
    and grid renderers run in sessions of their own, and go on."""
    import psutil

    session = os.getsid(0)
    for child in psutil.Process().children():
        try:
            if os.getsid(child.pid) == session:
                child.kill()
        except (psutil.Error, ProcessLookupError):
            pass  # ended by itself meanwhile

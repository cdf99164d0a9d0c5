"""Atomic file writes: a reader sees the old file or the new one, never half of either."""

import errno
import os
import signal
import tempfile
from pathlib import Path

# For the fault-injection tests only: "kill:NAME[@N]" kills this process in the middle of writing
# the N-th file (default the first) whose name contains NAME; "full:NAME[@N]" fails that write as
# a full disk would. Comma-separated; unset, writes are plain writes.
WRITE_FAULTS_VARIABLE = "TI_TUI_WRITE_FAULTS"
_writes_seen: dict[str, int] = {}


def injected_write_fault(path: Path) -> str | None:
    """The fault asked for this write ("kill" or "full"), if any; counts the writes each rule matches."""
    for rule in filter(None, os.environ.get(WRITE_FAULTS_VARIABLE, "").split(",")):
        fault, _, target = rule.partition(":")
        name, _, nth = target.partition("@")
        if name and name in path.name:
            _writes_seen[rule] = _writes_seen.get(rule, 0) + 1
            if _writes_seen[rule] == int(nth or 1):
                return fault
    return None


def suffer_write_fault(fault: str | None, handle=None) -> None:
    """Act out an injected fault: the process dies mid-write, or the disk is full."""
    if fault == "kill":
        if handle is not None:
            handle.flush()
            os.fsync(handle.fileno())
        os.kill(os.getpid(), signal.SIGKILL)
    if fault == "full":
        raise OSError(errno.ENOSPC, "No space left on device")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, flush it to disk, then rename it over `path`.

    An existing file keeps its permission bits; a symbolic link keeps pointing at the new content.
    """
    path = Path(os.path.realpath(path))
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    temporary_name = _written_temporary(path, data, mode)
    try:
        os.replace(temporary_name, path)
    except BaseException:
        Path(temporary_name).unlink(missing_ok=True)
        raise


def atomic_create_bytes(path: Path, data: bytes) -> None:
    """Write `data` as a new file at `path`, whole or not at all; FileExistsError if anything is there.

    Anything at all: a file, a folder or a link (a dangling one too) is left as it was. Two writers
    racing for one name cannot both win: the file is written aside, then hard-linked into place,
    which fails rather than replace.
    """
    path = Path(path)
    temporary_name = _written_temporary(path, data, None)
    try:
        try:
            os.link(temporary_name, path)
        except OSError as error:
            if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            # A file system without hard links (FAT, some network ones): claim the name first, then
            # fill it by rename; a reader may meet the claim empty for that moment, never half a file.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            os.replace(temporary_name, path)
    finally:
        Path(temporary_name).unlink(missing_ok=True)


def _written_temporary(path: Path, data: bytes, mode: int | None) -> str:
    """`data` in a new hidden file beside `path`, flushed to disk, with `mode` (default: as a new file gets); its name."""
    descriptor, temporary_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            fault = injected_write_fault(path)
            if fault:
                handle.write(data[: len(data) // 2])
                suffer_write_fault(fault, handle)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary_name, 0o666 & ~_current_umask() if mode is None else mode)
    except BaseException:
        Path(temporary_name).unlink(missing_ok=True)
        raise
    return temporary_name


def file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(2**20):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _current_umask() -> int:
    # os.umask can only be read by setting it; set it back at once.
    mask = os.umask(0)
    os.umask(mask)
    return mask

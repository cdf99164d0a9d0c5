"""Where ti-tui keeps things outside a project."""

import errno
import os
from pathlib import Path

from ti_tui.errors import UserError

CACHE_DIR_ENVIRONMENT_VARIABLE = "TI_TUI_CACHE_DIR"


def cache_dir() -> Path:
    """The user cache folder (built-in models live here); `TI_TUI_CACHE_DIR` overrides it.

    Raises a UserError when a file stands where the folder (or a folder above it) should be.
    """
    override = os.environ.get(CACHE_DIR_ENVIRONMENT_VARIABLE)
    if override:
        folder = Path(override).expanduser()
        blocker = file_in_the_way(folder)
        if blocker:
            raise UserError(
                f"{CACHE_DIR_ENVIRONMENT_VARIABLE} is set to {folder}, but {blocker} is a file, not a folder: set "
                f"{CACHE_DIR_ENVIRONMENT_VARIABLE} to a folder (ti-tui keeps its built-in model there), or unset it"
            )
        return folder
    from platformdirs import user_cache_dir

    folder = Path(user_cache_dir("ti-tui", appauthor=False))
    blocker = file_in_the_way(folder)
    if blocker:
        raise UserError(
            f"ti-tui's cache folder is {folder}, but {blocker} is a file, not a folder: move that file away, "
            f"or set {CACHE_DIR_ENVIRONMENT_VARIABLE} to another folder"
        )
    return folder


def file_in_the_way(folder: Path) -> Path | None:
    """The file (or other non-folder) that stands at `folder` or above it and would stop it being made; None if none does."""
    for path in (folder, *folder.parents):
        if path.exists():
            return None if path.is_dir() else path
    return None


def user_path(text: str, base_dir: Path) -> Path:
    """A path the user wrote (`~` allowed), relative ones read from `base_dir`; a clear error when unusable."""
    return resolved(base_dir / _expanded(text))


def resolved(path: Path) -> Path:
    """`path` made absolute with every link followed; a symbolic-link loop on the way is a UserError naming it.

    Python reports such a loop as a RuntimeError (or, from the operating system, an OSError
    ELOOP), which would otherwise reach the user as a traceback.
    """
    try:
        return _expanded(path).resolve()
    except (RuntimeError, OSError) as error:
        if is_symlink_loop(error):
            raise UserError(symlink_loop_message(path)) from None
        raise


def _expanded(text: str | os.PathLike) -> Path:
    """`text` with a leading `~` or `~user` expanded; a NUL character or an unknown user is a UserError."""
    text = os.fspath(text)
    if "\0" in text:
        raise UserError(f"the path {text!r} contains a NUL character; remove it")
    try:
        return Path(text).expanduser()
    except RuntimeError:
        user = text[1:].split("/", 1)[0]
        raise UserError(f"the path {text!r} starts with ~{user}, but there is no user {user!r}; write ~/ for your home") from None


def is_symlink_loop(error: BaseException) -> bool:
    """Whether `error` is how Python or the operating system reports a symbolic-link loop."""
    if isinstance(error, OSError):
        return error.errno == errno.ELOOP
    return isinstance(error, RuntimeError) and str(error).startswith("Symlink loop from")


def broken_link(path: Path) -> str | None:
    """Whether a symbolic link leaves `path` naming nothing: "loop" (one on the way leads back to itself), "missing"
    (`path` is a link whose target is gone), or None (no such link: it names something, or is plainly not there)."""
    try:
        path.resolve(strict=True)
    except FileNotFoundError:
        return "missing" if path.is_symlink() else None
    except (RuntimeError, OSError) as error:
        return "loop" if is_symlink_loop(error) else None
    except ValueError:  # a NUL character: no link at all
        return None
    return None


def broken_link_problem(path: Path) -> str | None:
    """Why the symbolic link at `path` leads nowhere, as a sentence naming it; None when it is no such link."""
    kind = broken_link(path)
    if kind == "loop":
        return symlink_loop_message(path)
    if kind == "missing":
        return f"{path} is a symbolic link to {os.readlink(path)}, which does not exist; point it at a file, or delete it"
    return None


def symlink_loop_message(path: Path) -> str:
    return (
        f"{path} is a symbolic-link loop: a link on the way to it leads back to itself, so it names no file or folder; "
        "point the link at a real file or folder, or give another path"
    )


def shown_path(path: Path) -> str:
    """A path as the user reads and types it: the home folder as ~, which keeps lines short at 80 columns."""
    try:
        home = Path.home()
        return "~/" + os.fspath(path.relative_to(home)) if path != home else "~"
    except (ValueError, RuntimeError):  # not in it, or no home folder known
        return os.fspath(path)

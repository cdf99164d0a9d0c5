"""The model hash the popular web UI shows: the first 10 hex digits of the file's SHA-256.

Hashing a 2-7 GB checkpoint takes seconds, so results are kept in the user cache, keyed by the
file's path, size and modification time.
"""

import hashlib
import json
import os
from pathlib import Path

from ti_tui.fsutil import atomic_write_text
from ti_tui.paths import cache_dir

SHORT_HASH_DIGITS = 10
_CHUNK = 2**20


def model_short_hash(path: Path) -> str:
    path = Path(os.path.realpath(path))
    status = path.stat()
    key = os.fspath(path)
    stamp = [status.st_size, status.st_mtime_ns]
    known = _read_cache()
    entry = known.get(key)
    if entry and entry.get("stamp") == stamp:
        return entry["sha256"][:SHORT_HASH_DIGITS]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    known[key] = {"stamp": stamp, "sha256": digest.hexdigest()}
    try:
        _cache_file().parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(_cache_file(), json.dumps(known, indent=1))
    except OSError:
        pass  # a cache that cannot be written only costs time next load
    return digest.hexdigest()[:SHORT_HASH_DIGITS]


def _cache_file() -> Path:
    return cache_dir() / "model-hashes.json"


def _read_cache() -> dict:
    try:
        known = json.loads(_cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}

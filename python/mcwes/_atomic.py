"""Atomic file writes: a temporary file in the target's folder, then ``os.replace``, so a reader (or a
re-run after a kill) sees the old file or the new one, never half of one. Used by extraction outputs and
manifests, the launcher's merged manifest and the ablation cells' done markers."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable


def atomic_write(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Write ``path`` by calling ``write`` on a binary file object; the folder is created if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any, indent: int = 1) -> None:
    """``data`` as JSON at ``path``, atomically."""
    atomic_write(path, lambda f: f.write(json.dumps(data, indent=indent).encode()))

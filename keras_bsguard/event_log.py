"""JSON-lines event log shared by the runtime monitors (``bsguard report`` reads it).

One line per record. Every record has ``type`` (``"run"``, ``"window"`` or ``"event"``),
``monitor`` (``"step_time"``, ``"gradient_norm"``, ``"memory"``), ``run`` (an id fixed at
``on_train_begin``) and ``time`` (Unix seconds); window records carry ``step`` (the last global
step of the window) and the window's figures; event records carry ``step``, ``kind`` and
``message``.

Example::

    >>> import tempfile, json, os
    >>> from keras_bsguard.event_log import EventLog
    >>> path = os.path.join(tempfile.mkdtemp(), "run.jsonl")
    >>> log = EventLog(path)
    >>> log.write({"type": "event", "monitor": "demo", "step": 3, "kind": "test", "message": "hi"})
    >>> json.loads(open(path).read())["kind"]
    'test'
"""

from __future__ import annotations

import json
import math
import os
import time

DEFAULT_FILE_NAME = "bsguard_events.jsonl"


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf": JSON has no literal for them
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _jsonable(value.item())
    return value


class EventLog:
    """Append-only JSONL file. Safe to share between monitors and threads.

    Each record is written with a single ``os.write`` on a file opened with ``O_APPEND``, so lines
    from several monitors (or several ``EventLog`` objects on the same path) never interleave.

    Args:
        path: the ``.jsonl`` file, or a directory, in which case the file is
            ``<dir>/bsguard_events.jsonl``. Parent directories are created, and the file is
            opened once for appending, so a path that cannot be written fails here (an
            ``OSError`` naming the path), not at the first record mid-``fit``.
    """

    def __init__(self, path: str):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"EventLog(path={path!r}): path must be a file or folder path (str)")
        given = path = os.fspath(path)
        if os.path.isdir(path) or not path.endswith(".jsonl"):
            path = os.path.join(path, DEFAULT_FILE_NAME)
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
        except OSError as error:
            failure = type(error)(f"EventLog({given!r}): cannot write the event log {path!r}: "
                                  f"{error.strerror or error}")
            failure.errno = error.errno
            raise failure from None
        self.path = path

    def write(self, record: dict) -> None:
        record = dict(record)
        record.setdefault("time", time.time())
        line = json.dumps(_jsonable(record), sort_keys=True) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)

    def __repr__(self) -> str:
        return f"EventLog({self.path!r})"


def read_events(path: str) -> list[dict]:
    """Read every record of a JSONL event log. Raises ``ValueError`` naming the bad line."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not a JSON object ({error.msg})") from None
            if not isinstance(record, dict) or "type" not in record:
                raise ValueError(f"{path}:{number}: not a bsguard event record")
            records.append(record)
    return records

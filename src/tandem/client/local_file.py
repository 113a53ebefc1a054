"""LocalFile: the SDK's unacknowledged local changes, kept on disk (``local_path``).

The file holds plaintext Yjs updates (this machine is trusted with the document, like
the browser's IndexedDB copy); it is replaced atomically and flushed to disk on every
change, and read once at start. A file written for another document is ignored.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
from pathlib import Path

log = logging.getLogger("tandem.client")
_FORMAT = "tandem-local/1"


class LocalFile:
    def __init__(self, path: str | os.PathLike[str], document_id: str) -> None:
        self.path = Path(path)
        self.document_id = document_id

    def load(self) -> list[bytes]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable local file %s: %s", self.path, exc)
            return []
        if (
            not isinstance(data, dict)
            or data.get("format") != _FORMAT
            or data.get("document_id") != self.document_id
        ):
            log.warning("ignoring local file %s: written for another document", self.path)
            return []
        updates = []
        for item in data.get("updates", []):
            with contextlib.suppress(ValueError, TypeError):
                updates.append(base64.b64decode(item, validate=True))
        return updates

    def save(self, updates: list[bytes]) -> None:
        data = {
            "format": _FORMAT,
            "document_id": self.document_id,
            "updates": [base64.b64encode(u).decode("ascii") for u in updates],
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

"""OCI stores altered the way an older version or another tool would leave them."""

from __future__ import annotations

import json
from pathlib import Path

RECORD_KEYS = ("fleetimage.separated.app-sha256", "fleetimage.separated.image-id", "fleetimage.separated.loaded-at")


def forget_records(store):
    """Make the store look loaded by version 0.1 (or another tool): no record in index.json."""
    path = Path(store) / "index.json"
    index = json.loads(path.read_text())
    for entry in index["manifests"]:
        for key in RECORD_KEYS:
            entry["annotations"].pop(key, None)
    path.write_text(json.dumps(index))

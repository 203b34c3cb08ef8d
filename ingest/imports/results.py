"""What an import reports while it runs (`ImportProgress`) and when it ends (`ImportResult`), for both pipelines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ImportProgress:
    files_total: int = 0
    files_done: int = 0
    bytes_total: int = 0
    bytes_read: int = 0
    records_read: int = 0
    inserted: int = 0
    duplicates: int = 0
    format_detected: str | None = None

    @property
    def fraction(self) -> float:
        return min(1.0, self.bytes_read / self.bytes_total) if self.bytes_total else 0.0


type ProgressCallback = Callable[[ImportProgress], None]


@dataclass(slots=True)
class ImportResult:
    progress: ImportProgress
    files: list[str] = field(default_factory=list)
    files_ignored: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    # The first skipped records that a person may want to fix (file, record number, why).
    skip_details: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # Batches COPYed straight into the table / landed through the staging table (ON CONFLICT DO NOTHING).
    batches_direct: int = 0
    batches_staged: int = 0

    def stats(self) -> dict[str, Any]:
        """What goes into `job_runs.stats`."""
        p = self.progress
        return {
            "files_processed": p.files_done,
            "files": self.files,
            "files_ignored": self.files_ignored,
            "records_read": p.records_read,
            "inserted": p.inserted,
            "duplicates": p.duplicates,
            "skipped": self.skipped,
            "skipped_details": self.skip_details,
            "format_detected": p.format_detected,
            "bytes_uncompressed": p.bytes_read,
            "seconds": round(self.seconds, 3),
            "records_per_second": round(p.records_read / self.seconds) if self.seconds > 0 else None,
            "batches_direct": self.batches_direct,
            "batches_staged": self.batches_staged,
        }

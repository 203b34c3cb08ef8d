"""`spotify-mcp import --dry-run PATH`: print what the import would do; nothing is written."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings
from core.user_lookup import UserRef
from ingest.imports.errors import ImportRejected
from ingest.imports.preview import ImportPreview, preview_import

_SOURCE_NAMES = {"spotify_export": "Spotify export", "listenbrainz": "ListenBrainz", "lastfm": "Last.fm"}


def render(preview: ImportPreview, user_name: str | None) -> list[str]:
    """The preview as lines for a terminal."""
    owner = f"user `{user_name}`" if user_name else "a new local user (nothing stored yet)"
    lines = [f"dry run: {preview.name} for {owner}; nothing was written"]
    lines.append(
        f"  format: {preview.format_detected}; {len(preview.files)} file(s) read"
        + (f", {len(preview.ignored)} other file(s) ignored" if preview.ignored else "")
    )
    width = max((len(file.name) for file in preview.files), default=0)
    for file in preview.files:
        span = f"{file.earliest:%Y-%m-%d} to {file.latest:%Y-%m-%d}" if file.earliest and file.latest else "no listens"
        skipped = f", {file.skipped:,} skipped" if file.skipped else ""
        lines.append(f"    {file.name:<{width}}  {file.format:<18} {file.records:>9,} records{skipped}  {span}")
    if preview.earliest and preview.latest:
        which = "start" if preview.times_are == "start" else "end"
        lines.append(
            f"  listens from {preview.earliest:%Y-%m-%d} to {preview.latest:%Y-%m-%d} (UTC, by the {which} of each)"
        )
    for source in preview.sources:
        lines.append(
            f"  {_SOURCE_NAMES.get(source.source, source.source)}: {source.new:,} new · {source.known:,} already "
            f"known · {source.repeated:,} repeated in the file"
        )
        if source.in_spotify_history:
            lines.append(
                f"    {source.in_spotify_history:,} of them are also in your Spotify history (the same listen; the "
                "warehouse will count each once)"
            )
    skipped = ", ".join(f"{reason} {count:,}" for reason, count in sorted(preview.skipped.items()))
    lines.append(f"  would skip: {skipped or 'none'}")
    lines.extend(f"    {detail}" for detail in preview.skip_details)
    lines.append("  run the same command without --dry-run to import")
    return lines


async def preview(
    engine: AsyncEngine, settings: Settings, path: Path, user: UserRef | None, *, as_json: bool = False
) -> int:
    """Print the preview for `user` (None when there is no user yet); 1 when the import would be refused."""
    try:
        result = await preview_import(engine, settings, path, name=path.name, user_id=user.id if user else None)
    except ImportRejected as rejected:
        print(f"spotify-mcp import: {path.name} would not be imported: {rejected.message}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(result.as_json() | {"user": user.label if user else None}, indent=2))
    else:
        print("\n".join(render(result, user.label if user else None)))
    return 0

"""ZIP import of Spotify "Download your data" exports (spec §5.2, §7B; DESIGN §2).

Pipeline: `archive` opens and checks the ZIP (caps, hostile members), `formats` tells which members are
streaming history and of which kind, `normalize` turns each record into one `raw.export_records` row (privacy
filter, identity, idempotency key), `producers` cut batches on a thread (`parse_thread`) while
`loader` COPYs them into PostgreSQL, `jobs` keeps `app.import_jobs` / `app.job_runs` current, `watch` takes
files from IMPORT_WATCH_DIR and `worker.process_pending_imports` is what the collector's run loop calls.

ListenBrainz and Last.fm exports (issue 21): `sources` tells what a file holds (by content) and opens scrobble
files with the same caps, `scrobble_formats` parses them, `scrobbles` turns a record into a `raw.scrobbles` row,
`scrobble_pipeline` lands them; `preview` says what any import would do without writing (`import --dry-run`), and
`preview_jobs` runs it for uploads sent with `?preview=true` (the admin UI's "Preview first").
"""

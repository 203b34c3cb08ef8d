{#- Rules 4 and 5 of int_plays_deduplicated (docs/warehouse-contract.md, "Scrobbles"): scrobbles merged with each
    other and with Spotify's listens. Rendered inside int_plays_deduplicated's statement, after its rules 1-3, as the
    CTEs from `scrobble_listens` to `scrobble_partners`: it reads the CTEs `distinct_listens` (every raw listen, one
    per source row, narrow, with `is_core`) and `merged` (Spotify's listens after rules 1-3, narrow). It gives
    `scrobbles_per_listen` (the scrobbles rule 4 left, each with the services that recorded it), `scrobble_matches`
    (Spotify listen key, scrobble: the same listen) and `scrobble_partners` (what a Spotify listen takes from its
    scrobble). Ties between equally near candidates are broken by start time, then by the raw `record_key` (the
    scrobble's start, names and service) or the Spotify listen's end and track, never by raw ids (import order).
    A macro, not a model of its own: rule 5 pairs with the result of rules 1-3 in the same statement, so that an
    incremental run decides both from one read of the raw rows (a model in between would be a second incremental
    table to keep in step). -#}

{#- How far a scrobble's start and the end of the Spotify listen it matches can lie apart, at most: matching windows
    longer than this less a minute (a track of two hours) are cut to it, so that time buckets of this width make the
    range matches equi-joins (as export_buckets does for rule 3), and incremental runs recompute time ranges of users
    with scrobbles (macros/changed_listens.sql). -#}
{% macro scrobble_window_seconds() -%}
    7200
{%- endmacro %}

{% macro scrobble_matching_ctes() -%}
{%- set scrobble_tolerance = var('scrobble_tolerance_seconds') | int %}
{%- set pair_tolerance = var('scrobble_pair_tolerance_seconds') | int %}
{%- set scrobble_window = scrobble_window_seconds() | int %}
scrobble_listens as (
    select * from distinct_listens where listen_source = 'scrobble'
),

-- A Last.fm scrobble's start lies within the pair tolerance of the ListenBrainz one's: it is in one of the (at most
-- two) buckets of twice that width that [start - tolerance, start + tolerance] touches.
listenbrainz_buckets as (
    select scrobble_id, user_id, name_key, track_id, started_at,
        floor((extract(epoch from started_at) - {{ pair_tolerance }}) / {{ 2 * pair_tolerance + 1 }}) as bucket
    from scrobble_listens
    where source_format = 'listenbrainz'
    union
    select scrobble_id, user_id, name_key, track_id, started_at,
        floor((extract(epoch from started_at) + {{ pair_tolerance }}) / {{ 2 * pair_tolerance + 1 }})
    from scrobble_listens
    where source_format = 'listenbrainz'
),

lastfm_buckets as (
    select scrobble_id, user_id, name_key, track_id, started_at,
        floor(extract(epoch from started_at) / {{ 2 * pair_tolerance + 1 }}) as bucket
    from scrobble_listens
    where source_format = 'lastfm'
),

-- Rule 4: the same listen scrobbled to both services, recognised by Spotify id or by name (either may be
-- missing). Two equi-joins rather than one join on an `or`, which PostgreSQL could only answer per user pair.
scrobble_pair_keys as (
    select listenbrainz.scrobble_id as kept_id, lastfm.scrobble_id as absorbed_id
    from listenbrainz_buckets as listenbrainz
    inner join lastfm_buckets as lastfm
        on listenbrainz.user_id = lastfm.user_id
        and listenbrainz.bucket = lastfm.bucket
        and listenbrainz.name_key = lastfm.name_key
    where lastfm.started_at between listenbrainz.started_at - interval '{{ pair_tolerance }} seconds'
        and listenbrainz.started_at + interval '{{ pair_tolerance }} seconds'
    union
    select listenbrainz.scrobble_id, lastfm.scrobble_id
    from listenbrainz_buckets as listenbrainz
    inner join lastfm_buckets as lastfm
        on listenbrainz.user_id = lastfm.user_id
        and listenbrainz.bucket = lastfm.bucket
        and listenbrainz.track_id = lastfm.track_id
    where listenbrainz.track_id not like 'local:%'
        and lastfm.started_at between listenbrainz.started_at - interval '{{ pair_tolerance }} seconds'
            and listenbrainz.started_at + interval '{{ pair_tolerance }} seconds'
),

scrobble_pair_candidates as (
    select
        pairs.kept_id,
        pairs.absorbed_id,
        listenbrainz.started_at as kept_started_at,
        listenbrainz.record_key as kept_record_key,
        lastfm.started_at as absorbed_started_at,
        lastfm.record_key as absorbed_record_key,
        abs(extract(epoch from listenbrainz.started_at - lastfm.started_at)) as gap_seconds
    from scrobble_pair_keys as pairs
    inner join scrobble_listens as listenbrainz on pairs.kept_id = listenbrainz.scrobble_id
    inner join scrobble_listens as lastfm on pairs.absorbed_id = lastfm.scrobble_id
),

absorbed_scrobbles as (
    select ranked.kept_id, ranked.absorbed_id, absorbed.ingested_at, absorbed.is_core
    from (
        select
            candidates.*,
            row_number() over (
                partition by kept_id order by gap_seconds, absorbed_started_at, absorbed_record_key, absorbed_id
            ) as rank_for_kept,
            row_number() over (
                partition by absorbed_id order by gap_seconds, kept_started_at, kept_record_key, kept_id
            ) as rank_for_absorbed
        from scrobble_pair_candidates as candidates
    ) as ranked
    inner join scrobble_listens as absorbed on ranked.absorbed_id = absorbed.scrobble_id
    where ranked.rank_for_kept = 1 and ranked.rank_for_absorbed = 1
),

scrobbles_per_listen as (
    select
        scrobble_listens.*,
        case when absorbed_by.kept_id is not null then 'lastfm,listenbrainz' else scrobble_listens.source_format end
            as scrobble_sources,
        greatest(scrobble_listens.ingested_at, absorbed_by.ingested_at) as merged_ingested_at,
        scrobble_listens.is_core or coalesce(absorbed_by.is_core, false) as merged_is_core
    from scrobble_listens
    left join absorbed_scrobbles as absorbed on scrobble_listens.scrobble_id = absorbed.absorbed_id
    left join absorbed_scrobbles as absorbed_by on scrobble_listens.scrobble_id = absorbed_by.kept_id
    where absorbed.absorbed_id is null
),

-- Rule 5: the Spotify listens of users with scrobbles, with how long each lasted and its name key. The users are a
-- few rows, materialized (as account_users), so that the Spotify listens are filtered by hashing them.
scrobble_users as materialized (
    select distinct user_id from scrobbles_per_listen
),

spotify_listens as (
    select
        merged.*,
        coalesce('api:' || merged.api_play_id, 'export:' || merged.export_record_id) as listen_key
    from merged
),

spotify_keys as (
    select
        listen_key,
        user_id,
        played_at,
        played_until,
        track_id,
        {{ match_name_key('primary_artist_name', 'track_name') }} as name_key,
        coalesce(ms_played, catalogue_duration_ms) as duration_ms,
        -- The listen's end (to the end of the minute an account record stands for) lies in the bucket of the
        -- scrobble's start or the next one: matching windows are cut to a bucket less that minute.
        floor(extract(epoch from played_until) / {{ scrobble_window }}) as bucket
    from spotify_listens
    where content_kind = 'track' and user_id in (select user_id from scrobble_users)
),

scrobble_buckets as (
    select scrobble_id, user_id, track_id, name_key,
        floor(extract(epoch from started_at) / {{ scrobble_window }}) as bucket
    from scrobbles_per_listen
    union all
    select scrobble_id, user_id, track_id, name_key,
        floor(extract(epoch from started_at) / {{ scrobble_window }}) + 1
    from scrobbles_per_listen
),

-- The same track: by Spotify id when both sides have one, else by normalised artist + title (two equi-joins).
scrobble_track_pairs as (
    select spotify_keys.listen_key, scrobbles.scrobble_id
    from spotify_keys
    inner join scrobble_buckets as scrobbles
        on spotify_keys.user_id = scrobbles.user_id
        and spotify_keys.bucket = scrobbles.bucket
        and spotify_keys.track_id = scrobbles.track_id
    where spotify_keys.track_id not like 'local:%'
    union all
    select spotify_keys.listen_key, scrobbles.scrobble_id
    from spotify_keys
    inner join scrobble_buckets as scrobbles
        on spotify_keys.user_id = scrobbles.user_id
        and spotify_keys.bucket = scrobbles.bucket
        and spotify_keys.name_key = scrobbles.name_key
    where spotify_keys.track_id like 'local:%' or scrobbles.track_id like 'local:%'
),

scrobble_candidate_pairs as (
    select
        pairs.listen_key,
        pairs.scrobble_id,
        scrobbles.started_at,
        scrobbles.record_key,
        spotify_keys.played_at - coalesce(spotify_keys.duration_ms, scrobbles.ms_played) * interval '1 millisecond'
            as spotify_started_at,
        spotify_keys.played_at as spotify_played_at,
        spotify_keys.track_id as spotify_track_id,
        -- How far the scrobble's start is from where the Spotify listen began (at the end time's precision).
        greatest(
            extract(epoch from spotify_keys.played_at - scrobbles.started_at)
                - coalesce(spotify_keys.duration_ms, scrobbles.ms_played) / 1000.0,
            coalesce(spotify_keys.duration_ms, scrobbles.ms_played) / 1000.0
                - extract(epoch from spotify_keys.played_until - scrobbles.started_at),
            0
        ) as gap_seconds
    from scrobble_track_pairs as pairs
    inner join spotify_keys on pairs.listen_key = spotify_keys.listen_key
    inner join scrobbles_per_listen as scrobbles on pairs.scrobble_id = scrobbles.scrobble_id
    where spotify_keys.played_until >= scrobbles.started_at
        and spotify_keys.played_at <= scrobbles.started_at + least(
            (coalesce(spotify_keys.duration_ms, scrobbles.ms_played) + {{ 1000 * scrobble_tolerance }})
                * interval '1 millisecond',
            interval '{{ scrobble_window - 60 }} seconds'
        )
),

scrobble_matches as (
    select ranked.listen_key, ranked.scrobble_id
    from (
        select
            *,
            row_number() over (
                partition by listen_key order by gap_seconds, started_at, record_key, scrobble_id
            ) as rank_for_spotify,
            row_number() over (
                partition by scrobble_id
                order by gap_seconds, spotify_started_at, spotify_played_at, spotify_track_id, listen_key
            ) as rank_for_scrobble
        from scrobble_candidate_pairs
    ) as ranked
    where ranked.rank_for_spotify = 1 and ranked.rank_for_scrobble = 1
),

scrobble_partners as (
    select
        scrobble_matches.listen_key,
        scrobbles.scrobble_id,
        scrobbles.scrobble_sources,
        scrobbles.merged_ingested_at,
        scrobbles.merged_is_core
    from scrobble_matches
    inner join scrobbles_per_listen as scrobbles on scrobble_matches.scrobble_id = scrobbles.scrobble_id
),
{%- endmacro %}

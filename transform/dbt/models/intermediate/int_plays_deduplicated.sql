{#- One row per real listen: raw rows of every source merged (DESIGN §4, docs/warehouse-contract.md).

    1. Within one source, rows of the same (user, played_at, track) are one listen (the longest is kept).
    2. An account-data record (StreamingHistory*.json: end time truncated to the minute, names only) and an
       extended-history record of the same listen are one: same user and content kind, the same track (by id
       where both have one, else by normalised artist + title), the extended `ts` in [endTime, endTime + 60 s)
       and `ms_played` within `account_ms_tolerance`. The extended record is kept (it is the richer one).
    3. An API play and an export record are the same listen when they are of the same user and content kind,
       the same track (same id; or the export's `local:` id resolved to the API's id; or, when the export side
       has no Spotify id, the same normalised artist + title) and the API's end time lies within
       `dedupe_tolerance_seconds` of the export's end time, taken at the export's precision (for the account
       format, of the minute [endTime, endTime + 60 s) it stands for).
    4. A ListenBrainz listen and a Last.fm scrobble are the same listen when they are of the same user and track
       (same Spotify id, or same normalised artist + title) and start within `scrobble_pair_tolerance_seconds`;
       the ListenBrainz one is kept (it may carry a Spotify id and the track's length).
    5. A scrobble (it marks the START of a listen) and a Spotify listen (the result of 1-3: an API play, an export
       record, or both merged; it marks the END) are the same listen when they are of the same user and track (by
       Spotify id when both have one, else by normalised artist + title) and the Spotify end time minus the
       scrobble's start lies in [0, duration + `scrobble_tolerance_seconds`], duration being the Spotify record's
       ms_played, else the track's catalogue length, else the scrobble's estimated length. The Spotify listen is
       kept; `scrobble_sources` names the services that also recorded it.
    Rules 4 and 5 are rendered by macros/scrobble_matching.sql. A scrobble left alone is a play of its own
    (`source` `listenbrainz` | `lastfm`, ms_played estimated, see int_listens_unioned).
    In 2 to 5 each side is paired with its nearest candidate, and a pair is kept only when each is the other's
    nearest (ties broken by raw id in 2 and 3; in 4 and 5 by start time, then record_key or the Spotify listen's end
    and track, so that the import order decides nothing). A merged listen keeps the
    richer field of each side: the API's played_at (millisecond precision), track id and context; the export's
    ms_played, skipped and incognito flag.
    The rules are decided on narrow rows (`listen_keys`); the wide listens are read once more at the end.

    Incremental: only listens near a change are recomputed (macros/changed_listens.sql: time ranges around the
    changed raw rows, hours wide when a changed user has scrobbles, whose matching windows are cut at two hours), or
    every listen of the changed users after an import or a time-zone change; the pre-hook deletes the stored plays
    they replace. -#}
{{
    config(
        materialized='incremental',
        unique_key='play_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook=["set local work_mem = '128MB'", "{{ delete_recomputed_plays() }}"],
        post_hook=["{{ create_missing_indexes() }}"],
        indexes=[
            {'columns': ['play_id'], 'unique': True},
            {'columns': ['user_id', 'played_at']},
            {'columns': ['user_id', 'primary_artist_id']},
            {'columns': ['user_id', 'track_id']},
            {'columns': ['track_id', 'played_at']},
            {'columns': ['user_id', 'local_date']},
            {'columns': ['transformed_at']},
        ],
    )
}}

-- depends_on: {{ ref('stg_spotify_api__plays') }}
-- depends_on: {{ ref('stg_spotify_export__records') }}
-- depends_on: {{ ref('stg_spotify_api__track_artists') }}
-- depends_on: {{ ref('stg_spotify_api__track_resolutions') }}
-- depends_on: {{ ref('int_export_name_keys') }}
-- depends_on: {{ ref('int_track_name_resolutions') }}
-- depends_on: {{ ref('int_artist_name_resolutions') }}
-- depends_on: {{ ref('stg_app__users') }}
-- depends_on: {{ ref('stg_scrobbles__listens') }}
-- depends_on: {{ ref('int_scrobble_name_keys') }}
-- depends_on: {{ ref('stg_spotify_api__tracks') }}
{#- How far apart the two sides of one listen can be: the tolerance, plus a minute for the account format. -#}
{%- set tolerance = var('dedupe_tolerance_seconds') | int %}
{%- set match_radius = tolerance + 60 %}

with

{% if is_incremental() %}
{%- set plan = incremental_dedupe_plan(incremental_watermark('ingested_watermark'), match_radius) %}

-- Incremental: {{ plan['mode'] }} ({{ plan['context'] | length }} time ranges of radius {{ plan['radius'] }} s,
-- {{ plan['users'] | length }} users).
-- Listens whose dedupe may change (the core) and the context needed to decide them.
listens as (
    {%- if plan['mode'] == 'users' %}
    select *, true as is_core
    from {{ ref('int_listens_unioned') }}
    where user_id in ({% for user_id in plan['users'] %}'{{ user_id }}'::uuid{% if not loop.last %}, {% endif %}{% endfor %})
        and {{ not_excluded_user('user_id') }}  {#- users whose data fails the build (macros/user_isolation.sql) #}
    {%- else %}
    select *, {{ in_ranges('user_id', 'played_at', plan['core']) }} as is_core
    from {{ ref('int_listens_unioned') }}
    where listen_source <> 'scrobble' and {{ in_ranges('user_id', 'played_at', plan['context']) }}
        and {{ not_excluded_user('user_id') }}
    {%- if plan['scrobbles'] %}
    union all
    -- A scrobble is placed at its start (its end is an estimate): read from raw.scrobbles' (user_id, started_at).
    select *, {{ in_ranges('user_id', 'started_at', plan['core']) }} as is_core
    from {{ ref('int_listens_unioned') }}
    where listen_source = 'scrobble' and {{ in_ranges('user_id', 'started_at', plan['context']) }}
        and {{ not_excluded_user('user_id') }}
    {%- endif %}
    {%- endif %}
),

{% else %}

listens as (
    select *, true as is_core
    from {{ ref('int_listens_unioned') }}
    where {{ not_excluded_user('user_id') }}  {#- users whose data fails the build (macros/user_isolation.sql) #}
),

{% endif %}

-- The rules are decided on narrow rows (ids, user, times, track and match keys, durations, the names a key may be
-- made of); the wide listens are read once more at the end, each row with what its partners add. Deciding on the
-- wide rows wrote six copies of them to temporary files (1 GB at 1M listens, bench/README.md).
listen_keys as (
    select
        listen_source,
        source_format,
        api_play_id,
        export_record_id,
        scrobble_id,
        case when listen_source = 'scrobble' then record_key end as record_key,  -- rules 4 and 5's tie-break
        user_id,
        played_at,
        started_at,
        track_id,
        resolved_track_id,
        content_kind,
        ms_played,
        catalogue_duration_ms,
        name_key,
        track_name,
        primary_artist_name,
        ingested_at,
        is_core
    from listens
),

-- Rule 1: within one source, rows of the same (user, played_at, track) are one listen: keep the longest. API plays
-- are unique on it already (raw.api_plays' key); export records may repeat across export formats. Only the groups
-- that do repeat are ranked (a hash aggregate instead of sorting every export record).
repeated_export_listens as (
    select user_id, played_at, track_id
    from listen_keys
    where listen_source = 'import_zip'
    group by user_id, played_at, track_id
    having count(*) > 1
),

duplicate_export_records as (
    select export_record_id
    from (
        select
            listen_keys.export_record_id,
            row_number() over (
                partition by listen_keys.user_id, listen_keys.played_at, listen_keys.track_id
                order by listen_keys.ms_played desc, listen_keys.export_record_id
            ) as duplicate_rank
        from listen_keys
        inner join repeated_export_listens as repeated
            on listen_keys.user_id = repeated.user_id
            and listen_keys.played_at = repeated.played_at
            and listen_keys.track_id = repeated.track_id
        where listen_keys.listen_source = 'import_zip'
    ) as ranked
    where duplicate_rank > 1
),

distinct_listens as (
    select listen_keys.*
    from listen_keys
    left join duplicate_export_records
        on listen_keys.export_record_id = duplicate_export_records.export_record_id
    where duplicate_export_records.export_record_id is null
),

-- Rule 2: account-data records absorbed by extended records (macros/account_pairing.sql).
{{ account_pairing_ctes() }}

listens_per_source as (
    select
        distinct_listens.*,
        -- The extended record stands for the account record it absorbed too.
        absorbed_by.ingested_at as absorbed_ingested_at,
        coalesce(absorbed_by.is_core, false) as absorbed_is_core
    from distinct_listens
    left join absorbed_account_records as absorbed
        on distinct_listens.export_record_id = absorbed.account_record_id
    left join absorbed_account_records as absorbed_by
        on distinct_listens.export_record_id = absorbed_by.extended_record_id
    where absorbed.account_record_id is null
),

api_listens as (
    select * from listens_per_source where listen_source = 'spotify_api'
),

export_listens as (
    select * from listens_per_source where listen_source = 'import_zip'
),

-- Rule 3. How a listen can be recognised on the other side: its Spotify id (or the id its `local:` id resolved
-- to), or, for an export listen without either, its normalised "artist|title". API listens offer both.
users_with_unkeyed_exports as materialized (
    select distinct user_id
    from export_listens
    where track_id like 'local:%' and resolved_track_id is null
),

api_keys as (
    select api_play_id, user_id, played_at, content_kind, track_id as match_key
    from api_listens
    union all
    -- Names are normalised only where an export listen needs them (regular expressions are not cheap).
    select
        api_play_id,
        user_id,
        played_at,
        content_kind,
        'name:' || {{ match_name_key('primary_artist_name', 'track_name') }} as match_key
    from api_listens
    where user_id in (select user_id from users_with_unkeyed_exports)
),

export_keys as (
    select
        export_record_id,
        user_id,
        played_at,
        -- The last instant the export's end time stands for: the account format's minute, else the time itself.
        played_at + case
            when source_format = 'account' then interval '60 seconds' - interval '1 microsecond'
            else interval '0'
        end as played_until,
        content_kind,
        {{ listen_match_key() }} as match_key
    from export_listens
),

-- Time buckets of twice the match radius make the range match an equi-join: an API end time within the radius
-- of an export end time is in one of the (at most two) buckets that the export's [end - radius, end + radius]
-- touches.
export_buckets as (
    select
        *,
        floor((extract(epoch from played_at) - {{ match_radius }}) / {{ 2 * match_radius }}) as bucket
    from export_keys
    union all
    select *
    from (
        select
            *,
            floor((extract(epoch from played_at) + {{ match_radius }}) / {{ 2 * match_radius }}) as bucket
        from export_keys
    ) as upper_bucket
    where bucket <> floor((extract(epoch from played_at) - {{ match_radius }}) / {{ 2 * match_radius }})
),

candidate_pairs as (
    select
        api_keys.api_play_id,
        export_buckets.export_record_id,
        greatest(
            extract(epoch from export_buckets.played_at - api_keys.played_at),
            extract(epoch from api_keys.played_at - export_buckets.played_until),
            0
        ) as gap_seconds
    from api_keys
    inner join export_buckets
        on api_keys.user_id = export_buckets.user_id
        and api_keys.match_key = export_buckets.match_key
        and floor(extract(epoch from api_keys.played_at) / {{ 2 * match_radius }}) = export_buckets.bucket
        and api_keys.content_kind = export_buckets.content_kind
        -- Within the tolerance of the export's end time at its precision (rule 3).
        and api_keys.played_at between export_buckets.played_at - interval '{{ tolerance }} seconds'
            and export_buckets.played_until + interval '{{ tolerance }} seconds'
),

matched_pairs as materialized (
    select api_play_id, export_record_id
    from (
        select
            api_play_id,
            export_record_id,
            row_number() over (partition by api_play_id order by gap_seconds, export_record_id) as rank_for_api,
            row_number() over (partition by export_record_id order by gap_seconds, api_play_id) as rank_for_export
        from candidate_pairs
    ) as ranked
    where rank_for_api = 1 and rank_for_export = 1
),

-- The users with scrobbles: a few rows, materialized (as account_users), so that rule 5's Spotify listens are
-- filtered by hashing them and nothing of `merged` is computed for a user without scrobbles.
scrobbling_users as materialized (
    select distinct user_id from distinct_listens where listen_source = 'scrobble'
),

-- Spotify's listens of users with scrobbles after rules 1-3 (an API play and an export record merged, or either
-- alone), narrow: what rule 5 matches scrobbles against.
merged as (
    select
        api_listens.user_id,
        api_listens.played_at,
        api_listens.played_at as played_until,
        api_listens.track_id,
        api_listens.content_kind,
        export_listens.ms_played,
        coalesce(api_listens.catalogue_duration_ms, export_listens.catalogue_duration_ms) as catalogue_duration_ms,
        coalesce(api_listens.track_name, export_listens.track_name) as track_name,
        coalesce(api_listens.primary_artist_name, export_listens.primary_artist_name) as primary_artist_name,
        api_listens.api_play_id,
        export_listens.export_record_id
    from matched_pairs
    inner join api_listens on matched_pairs.api_play_id = api_listens.api_play_id
    inner join export_listens on matched_pairs.export_record_id = export_listens.export_record_id
    where api_listens.user_id in (select user_id from scrobbling_users)

    union all

    select
        listens_per_source.user_id,
        listens_per_source.played_at,
        -- The last instant the end time stands for (the account format's minute), as in export_keys.
        listens_per_source.played_at + case
            when listens_per_source.source_format = 'account' then interval '60 seconds' - interval '1 microsecond'
            else interval '0'
        end as played_until,
        listens_per_source.track_id,
        listens_per_source.content_kind,
        listens_per_source.ms_played,
        listens_per_source.catalogue_duration_ms,
        listens_per_source.track_name,
        listens_per_source.primary_artist_name,
        listens_per_source.api_play_id,
        listens_per_source.export_record_id
    from listens_per_source
    left join matched_pairs as matched_api
        on listens_per_source.api_play_id = matched_api.api_play_id
    left join matched_pairs as matched_export
        on listens_per_source.export_record_id = matched_export.export_record_id
    where matched_api.api_play_id is null
        and matched_export.export_record_id is null
        and listens_per_source.listen_source <> 'scrobble'
        and listens_per_source.user_id in (select user_id from scrobbling_users)
),

-- Rules 4 and 5: scrobbles (macros/scrobble_matching.sql), giving `scrobbles_per_listen` (the scrobbles rule 4 left,
-- with the services that recorded each), `scrobble_matches` and `scrobble_partners` (per Spotify listen, the
-- scrobble that is the same listen).
{{ scrobble_matching_ctes() }}

-- What an API play merged with an export record takes from the export side (rule 3).
export_partners as (
    select
        matched_pairs.api_play_id,
        exports.export_record_id,
        exports.played_at,
        exports.ms_played,
        exports.track_name,
        exports.album_name,
        exports.primary_artist_id,
        exports.primary_artist_name,
        exports.skipped,
        exports.is_incognito,
        greatest(exports.ingested_at, absorbed_by.ingested_at) as ingested_at,
        exports.is_core or coalesce(absorbed_by.is_core, false) as is_core
    from matched_pairs
    inner join listens as exports on matched_pairs.export_record_id = exports.export_record_id
    left join absorbed_account_records as absorbed_by
        on matched_pairs.export_record_id = absorbed_by.extended_record_id
),

-- Every listen: each raw row that another did not absorb, with what its partners add. One pass over the wide rows,
-- the decisions (a few hundred thousand narrow rows at most) hashed beside it.
merged_listens as (
    select
        listens.user_id,
        listens.played_at,
        coalesce(export_partner.played_at, case when listens.listen_source = 'import_zip' then listens.played_at end)
            as export_played_at,
        listens.track_id,
        listens.content_kind,
        case when export_partner.api_play_id is not null then export_partner.ms_played else listens.ms_played end
            as ms_played,
        listens.ms_played_estimated,
        case
            when export_partner.api_play_id is not null then 'both'
            when listens.listen_source = 'scrobble' then listens.source_format
            else listens.listen_source
        end as source,
        coalesce(scrobble_partner.scrobble_sources, scrobble.scrobble_sources) as scrobble_sources,
        listens.context_type,
        listens.context_uri,
        coalesce(listens.track_name, export_partner.track_name) as track_name,
        coalesce(listens.album_name, export_partner.album_name) as album_name,
        coalesce(listens.primary_artist_id, export_partner.primary_artist_id) as primary_artist_id,
        coalesce(listens.primary_artist_name, export_partner.primary_artist_name) as primary_artist_name,
        case when export_partner.api_play_id is not null then export_partner.skipped else listens.skipped end
            as skipped,
        case when export_partner.api_play_id is not null then export_partner.is_incognito else listens.is_incognito end
            as is_incognito,
        listens.api_play_id,
        coalesce(listens.export_record_id, export_partner.export_record_id) as export_record_id,
        coalesce(listens.scrobble_id, scrobble_partner.scrobble_id) as scrobble_id,
        greatest(
            listens.ingested_at,
            absorbed_by.ingested_at,
            export_partner.ingested_at,
            scrobble_partner.merged_ingested_at,
            scrobble.merged_ingested_at
        ) as ingested_at,
        listens.is_core
            or coalesce(absorbed_by.is_core, false)
            or coalesce(export_partner.is_core, false)
            or coalesce(scrobble_partner.merged_is_core, false)
            or coalesce(scrobble.merged_is_core, false) as is_core
    from listens
    -- Export records: a duplicate (rule 1), an account record absorbed (rule 2) or merged into an API play (rule 3)
    -- is no listen of its own; an extended record stands for the account record it absorbed too.
    left join duplicate_export_records as duplicate
        on listens.export_record_id = duplicate.export_record_id
    left join absorbed_account_records as absorbed
        on listens.export_record_id = absorbed.account_record_id
    left join matched_pairs as matched_export
        on listens.export_record_id = matched_export.export_record_id
    left join absorbed_account_records as absorbed_by
        on listens.export_record_id = absorbed_by.extended_record_id
    left join export_partners as export_partner
        on listens.api_play_id = export_partner.api_play_id
    -- Spotify listens: the scrobble that is the same listen (rule 5).
    left join scrobble_partners as scrobble_partner
        on scrobble_partner.listen_key = coalesce('api:' || listens.api_play_id, 'export:' || listens.export_record_id)
    -- Scrobbles: kept by rule 4 (scrobbles_per_listen) and not the same listen as a Spotify one (rule 5).
    left join scrobbles_per_listen as scrobble
        on listens.scrobble_id = scrobble.scrobble_id
    left join scrobble_matches as matched_scrobble
        on listens.scrobble_id = matched_scrobble.scrobble_id
    where duplicate.export_record_id is null
        and absorbed.account_record_id is null
        and matched_export.export_record_id is null
        and (listens.listen_source <> 'scrobble' or (scrobble.scrobble_id is not null and matched_scrobble.scrobble_id is null))
),

users as (
    select * from {{ ref('stg_app__users') }}
),

final as (
    select
        {{ surrogate_key(['merged.user_id', 'merged.played_at', 'merged.track_id']) }} as play_id,
        merged.user_id,
        merged.played_at,
        merged.export_played_at,
        merged.track_id,
        merged.content_kind,
        merged.ms_played,
        merged.ms_played_estimated,
        merged.source,
        merged.scrobble_sources,
        merged.context_type,
        merged.context_uri,
        merged.track_name,
        merged.album_name,
        merged.primary_artist_id,
        merged.primary_artist_name,
        (merged.played_at at time zone users.timezone)::date as local_date,
        extract(hour from merged.played_at at time zone users.timezone)::smallint as local_hour,
        extract(isodow from merged.played_at at time zone users.timezone)::smallint as local_weekday,
        merged.skipped,
        merged.is_incognito,
        merged.api_play_id,
        merged.export_record_id,
        merged.scrobble_id,
        merged.ingested_at,
        {{ ingested_watermark_expression() }} as ingested_watermark,
        now() as transformed_at
    from merged_listens as merged
    inner join users on merged.user_id = users.user_id
    where merged.is_core
)

select * from final

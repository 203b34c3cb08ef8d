{#- One row per real listen: API plays and export records merged across sources (DESIGN §4).

    An API play and an export record are the same listen when they are of the same user and content kind,
    the same track (same id; or the export's `local:` id resolved to the API's id; or, when the export side
    has no Spotify id, the same normalised artist + title) and their end times differ by at most
    `dedupe_tolerance_seconds` (plus a minute for the account-data format, whose end times are truncated to
    the minute). Each side is paired with its nearest candidate, and a pair is kept only when
    each is the other's nearest (ties broken by raw id), so the result does not depend on arrival order.
    A merged listen keeps the richer field of each side: the API's played_at (millisecond precision), track id
    and context; the export's ms_played, skipped and incognito flag. Raw rows of one source that share
    (user, played_at, track) are one listen too (the longest is kept).

    Incremental: only listens near a change are recomputed (macros/changed_listens.sql); the pre-hook deletes
    the stored plays they replace. -#}
{{
    config(
        materialized='incremental',
        unique_key='play_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook=["set local work_mem = '128MB'", "{{ delete_recomputed_plays() }}"],
        indexes=[
            {'columns': ['play_id'], 'unique': True},
            {'columns': ['user_id', 'played_at']},
            {'columns': ['user_id', 'primary_artist_id']},
            {'columns': ['user_id', 'track_id']},
            {'columns': ['user_id', 'local_date']},
            {'columns': ['transformed_at']},
        ],
    )
}}

-- depends_on: {{ ref('stg_spotify_api__plays') }}
-- depends_on: {{ ref('stg_spotify_export__records') }}
-- depends_on: {{ ref('stg_spotify_api__track_artists') }}
-- depends_on: {{ ref('stg_spotify_api__track_resolutions') }}
{#- How far apart the two sides of one listen can be: the tolerance, plus a minute for the account format. -#}
{%- set tolerance = var('dedupe_tolerance_seconds') | int %}
{%- set match_radius = tolerance + 60 %}

with

{% if is_incremental() %}
{%- set plan = incremental_dedupe_plan(incremental_watermark('ingested_watermark'), match_radius) %}

-- Incremental: {{ plan['mode'] }} ({{ plan['context'] | length }} time ranges, {{ plan['users'] | length }} users).
-- Listens whose dedupe may change (the core) and the context needed to decide them.
listens as (
    select
        *,
        {%- if plan['mode'] == 'users' %}
        true as is_core
        {%- else %}
        {{ in_ranges('user_id', 'played_at', plan['core']) }} as is_core
        {%- endif %}
    from {{ ref('int_listens_unioned') }}
    {%- if plan['mode'] == 'users' %}
    where user_id in ({% for user_id in plan['users'] %}'{{ user_id }}'::uuid{% if not loop.last %}, {% endif %}{% endfor %})
    {%- else %}
    where {{ in_ranges('user_id', 'played_at', plan['context']) }}
    {%- endif %}
        and {{ not_excluded_user('user_id') }}  {#- users whose data fails the build (macros/user_isolation.sql) #}
),

{% else %}

listens as (
    select *, true as is_core
    from {{ ref('int_listens_unioned') }}
    where {{ not_excluded_user('user_id') }}  {#- users whose data fails the build (macros/user_isolation.sql) #}
),

{% endif %}

-- Within one source, rows of the same (user, played_at, track) are one listen: keep the longest. API plays are
-- unique on it already (raw.api_plays' key); export records may repeat across export formats. Ranked on narrow
-- columns, then removed by id, so the wide rows are never sorted.
duplicate_export_records as (
    select export_record_id
    from (
        select
            export_record_id,
            row_number() over (
                partition by user_id, played_at, track_id order by ms_played desc, export_record_id
            ) as duplicate_rank
        from listens
        where listen_source = 'import_zip'
    ) as ranked
    where duplicate_rank > 1
),

listens_per_source as (
    select listens.*
    from listens
    left join duplicate_export_records
        on listens.export_record_id = duplicate_export_records.export_record_id
    where duplicate_export_records.export_record_id is null
),

api_listens as (
    select * from listens_per_source where listen_source = 'spotify_api'
),

export_listens as (
    select * from listens_per_source where listen_source = 'import_zip'
),

-- How a listen can be recognised on the other side: its Spotify id (or the id its `local:` id resolved to),
-- or, for an export listen without either, its normalised "artist|title". API listens offer both.
users_with_unkeyed_exports as (
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
        content_kind,
        source_format,
        case
            when track_id not like 'local:%' then track_id
            when resolved_track_id is not null then resolved_track_id
            else 'name:' || {{ match_name_key('primary_artist_name', 'track_name') }}
        end as match_key
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
        abs(extract(epoch from api_keys.played_at - export_buckets.played_at)) as gap_seconds
    from api_keys
    inner join export_buckets
        on api_keys.user_id = export_buckets.user_id
        and api_keys.match_key = export_buckets.match_key
        and floor(extract(epoch from api_keys.played_at) / {{ 2 * match_radius }}) = export_buckets.bucket
        and api_keys.content_kind = export_buckets.content_kind
        -- The account-data format (StreamingHistory*.json) gives end times truncated to the minute.
        and export_buckets.played_at between api_keys.played_at - interval '{{ tolerance }} seconds'
            - case when export_buckets.source_format = 'account' then interval '60 seconds' else interval '0' end
            and api_keys.played_at + interval '{{ tolerance }} seconds'
),

ranked_pairs as (
    select
        *,
        row_number() over (partition by api_play_id order by gap_seconds, export_record_id) as rank_for_api,
        row_number() over (partition by export_record_id order by gap_seconds, api_play_id) as rank_for_export
    from candidate_pairs
),

matched_pairs as (
    select api_play_id, export_record_id
    from ranked_pairs
    where rank_for_api = 1 and rank_for_export = 1
),

merged as (
    select
        api_listens.user_id,
        api_listens.played_at,
        export_listens.played_at as export_played_at,
        api_listens.track_id,
        api_listens.content_kind,
        export_listens.ms_played,
        'both' as source,
        api_listens.context_type,
        api_listens.context_uri,
        coalesce(api_listens.track_name, export_listens.track_name) as track_name,
        coalesce(api_listens.album_name, export_listens.album_name) as album_name,
        coalesce(api_listens.primary_artist_id, export_listens.primary_artist_id) as primary_artist_id,
        coalesce(api_listens.primary_artist_name, export_listens.primary_artist_name) as primary_artist_name,
        export_listens.skipped,
        export_listens.is_incognito,
        api_listens.api_play_id,
        export_listens.export_record_id,
        greatest(api_listens.ingested_at, export_listens.ingested_at) as ingested_at,
        api_listens.is_core or export_listens.is_core as is_core
    from matched_pairs
    inner join api_listens on matched_pairs.api_play_id = api_listens.api_play_id
    inner join export_listens on matched_pairs.export_record_id = export_listens.export_record_id

    union all

    select
        listens_per_source.user_id,
        listens_per_source.played_at,
        case when listens_per_source.listen_source = 'import_zip' then listens_per_source.played_at end
            as export_played_at,
        listens_per_source.track_id,
        listens_per_source.content_kind,
        listens_per_source.ms_played,
        listens_per_source.listen_source as source,
        listens_per_source.context_type,
        listens_per_source.context_uri,
        listens_per_source.track_name,
        listens_per_source.album_name,
        listens_per_source.primary_artist_id,
        listens_per_source.primary_artist_name,
        listens_per_source.skipped,
        listens_per_source.is_incognito,
        listens_per_source.api_play_id,
        listens_per_source.export_record_id,
        listens_per_source.ingested_at,
        listens_per_source.is_core
    from listens_per_source
    left join matched_pairs as matched_api
        on listens_per_source.api_play_id = matched_api.api_play_id
    left join matched_pairs as matched_export
        on listens_per_source.export_record_id = matched_export.export_record_id
    where matched_api.api_play_id is null
        and matched_export.export_record_id is null
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
        merged.source,
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
        merged.ingested_at,
        {{ ingested_watermark_expression() }} as ingested_watermark,
        now() as transformed_at
    from merged
    inner join users on merged.user_id = users.user_id
    where merged.is_core
)

select * from final

{#- One row per real listen: API plays and export records merged across sources (DESIGN §4).

    An API play and an export record are the same listen when they are of the same user and content kind,
    the same track (same id; or the export's `local:` id resolved to the API's id; or, when the export side
    has no Spotify id, the same normalised artist + title) and their end times differ by at most
    `dedupe_tolerance_seconds`. Each side is paired with its nearest candidate, and a pair is kept only when
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
        pre_hook="{{ delete_recomputed_plays() }}",
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
{%- set tolerance = var('dedupe_tolerance_seconds') | int %}

with

{% if is_incremental() %}
{%- set watermark = incremental_watermark('ingested_watermark') %}
{%- set stats = changed_listen_stats(watermark) %}
{%- set whole_users = stats['rows'] > var('dedupe_full_user_threshold') | int %}

changed_users as (
    select distinct user_id from ({{ changed_listens_sql(watermark) }}) as changed
),

-- Listens whose dedupe may change (the core) and the context needed to decide them.
context_ranges as (
    {{ changed_ranges_sql(watermark, 4 * tolerance) }}
),

core_ranges as (
    {{ changed_ranges_sql(watermark, 2 * tolerance) }}
),

context_listens as (
    select listens.*
    from {{ ref('int_listens_unioned') }} as listens
    {%- if whole_users %}
    where listens.user_id in (select user_id from changed_users)
    {%- else %}
    inner join context_ranges
        on listens.user_id = context_ranges.user_id
        and listens.played_at between context_ranges.range_start and context_ranges.range_end
    {%- endif %}
),

listens as (
    select
        context_listens.*,
        {%- if whole_users %}
        true as is_core
        {%- else %}
        core_ranges.user_id is not null as is_core
        {%- endif %}
    from context_listens
    {%- if not whole_users %}
    left join core_ranges
        on context_listens.user_id = core_ranges.user_id
        and context_listens.played_at between core_ranges.range_start and core_ranges.range_end
    {%- endif %}
),

{% else %}

listens as (
    select *, true as is_core
    from {{ ref('int_listens_unioned') }}
),

{% endif %}

-- Within one source, rows of the same (user, played_at, track) are one listen: keep the longest.
listens_per_source as (
    select *
    from (
        select
            *,
            row_number() over (
                partition by listen_source, user_id, played_at, track_id
                order by ms_played desc nulls last, coalesce(api_play_id, export_record_id)
            ) as duplicate_rank
        from listens
    ) as ranked
    where duplicate_rank = 1
),

api_listens as (
    select * from listens_per_source where listen_source = 'spotify_api'
),

export_listens as (
    select * from listens_per_source where listen_source = 'import_zip'
),

candidate_pairs as (
    select
        api_listens.api_play_id,
        export_listens.export_record_id,
        abs(extract(epoch from api_listens.played_at - export_listens.played_at)) as gap_seconds
    from api_listens
    inner join export_listens
        on api_listens.user_id = export_listens.user_id
        and export_listens.played_at between api_listens.played_at - interval '{{ tolerance }} seconds'
            and api_listens.played_at + interval '{{ tolerance }} seconds'
        and api_listens.content_kind = export_listens.content_kind
        and (
            api_listens.track_id = export_listens.track_id
            or api_listens.track_id = export_listens.resolved_track_id
            or (
                export_listens.track_id like 'local:%'
                and export_listens.resolved_track_id is null
                and api_listens.match_name_key = export_listens.match_name_key
            )
        )
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

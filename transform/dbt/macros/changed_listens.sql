{#- Incremental support for int_plays_deduplicated.

    "Changed" listens are raw rows landed since the model's watermark (`ingested_at >= watermark`, see `ingested_watermark`), plus
    the export listens of tracks whose metadata (artists, resolution) landed since then. A change can alter
    the dedupe of raw rows up to 2 × tolerance away (a new row steals a neighbour's partner), and deciding
    those needs rows up to 4 × tolerance away. Changed rows are collapsed into per-user time ranges
    (islands) so that the model reads the raw tables by (user_id, played_at) index ranges. -#}

{% macro changed_listens_sql(watermark) -%}
    select user_id, played_at from {{ ref('stg_spotify_api__plays') }} where ingested_at >= {{ watermark }}
    union all
    select user_id, played_at from {{ ref('stg_spotify_export__records') }} where ingested_at >= {{ watermark }}
    union all
    select export_records.user_id, export_records.played_at
    from {{ ref('stg_spotify_export__records') }} as export_records
    where export_records.track_id in (
        select track_id from {{ ref('stg_spotify_api__track_artists') }} where ingested_at >= {{ watermark }}
        union
        select local_track_id from {{ ref('stg_spotify_api__track_resolutions') }} where ingested_at >= {{ watermark }}
    )
{%- endmacro %}

{#- Disjoint per-user ranges [start, end] covering every changed listen ± radius_seconds. -#}
{% macro changed_ranges_sql(watermark, radius_seconds) -%}
    select
        user_id,
        min(played_at) - interval '{{ radius_seconds }} seconds' as range_start,
        max(played_at) + interval '{{ radius_seconds }} seconds' as range_end
    from (
        select
            user_id,
            played_at,
            sum(starts_island) over (partition by user_id order by played_at rows unbounded preceding) as island
        from (
            select
                user_id,
                played_at,
                case
                    when played_at - lag(played_at) over (partition by user_id order by played_at)
                        <= interval '{{ 2 * radius_seconds }} seconds' then 0
                    else 1
                end as starts_island
            from ({{ changed_listens_sql(watermark) }}) as changed
        ) as marked
    ) as islands
    group by user_id, island
{%- endmacro %}

{#- How many listens changed: above `dedupe_full_user_threshold` a user is recomputed whole (imports). -#}
{% macro changed_listen_stats(watermark) -%}
    {%- if execute -%}
        {%- set result = run_query(
            "select count(*), count(distinct user_id) from (" ~ changed_listens_sql(watermark) ~ ") as changed"
        ) -%}
        {{- return({'rows': result.columns[0].values()[0] | int, 'users': result.columns[1].values()[0] | int}) -}}
    {%- else -%}
        {{- return({'rows': 0, 'users': 0}) -}}
    {%- endif -%}
{%- endmacro %}

{#- The pre-hook of int_plays_deduplicated: remove the stored plays that contain a raw row the model is about
    to recompute (the core: changed rows ± 2 × tolerance), or all plays of the changed users on the
    whole-user path. Rendered before the model's watermark moves. -#}
{% macro delete_recomputed_plays() -%}
    {%- if is_incremental() -%}
        {%- set tolerance = var('dedupe_tolerance_seconds') | int -%}
        {%- set watermark = incremental_watermark('ingested_watermark') -%}
        {%- set stats = changed_listen_stats(watermark) -%}
        {%- if stats['rows'] == 0 -%}
            select 1
        {%- elif stats['rows'] > var('dedupe_full_user_threshold') | int -%}
            delete from {{ this }}
            where user_id in (select user_id from ({{ changed_listens_sql(watermark) }}) as changed)
        {%- else -%}
            delete from {{ this }} as plays
            using ({{ changed_ranges_sql(watermark, 2 * tolerance) }}) as core
            where plays.user_id = core.user_id
                and plays.played_at between core.range_start - interval '{{ tolerance }} seconds'
                    and core.range_end + interval '{{ tolerance }} seconds'
                and (
                    plays.played_at between core.range_start and core.range_end
                    or plays.export_played_at between core.range_start and core.range_end
                )
        {%- endif -%}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

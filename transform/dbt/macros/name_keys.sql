{#- The body of the incremental "name key per record" models (int_export_name_keys, int_scrobble_name_keys): the
    normalised "artist|title" (match_name_key) of every row of `source_model` that `filter` keeps, one row per
    record (`id_column`, with the user and `time_column`). How a listen known only by name is recognised in another
    source and resolved to a Spotify track and artist (int_track_name_resolutions). Kept incrementally by
    `ingested_at` (the watermark of int_plays_deduplicated) so that the regular expressions of the normalisation
    run once per record, and indexed by the key so that a resolution that changes finds the records it touches
    (macros/changed_listens.sql) without scanning the source. -#}
{% macro name_keys_per_record(source_model, id_column, time_column, filter=none) -%}
{{
    config(
        materialized='incremental',
        unique_key=id_column,
        incremental_strategy='delete+insert',
        indexes=[
            {'columns': [id_column], 'unique': True},
            {'columns': ['name_key']},
        ],
    )
}}

select
    {{ id_column }},
    user_id,
    {{ time_column }},
    {{ match_name_key('artist_name', 'track_name') }} as name_key,
    ingested_at,
    {{ ingested_watermark_expression() }} as ingested_watermark
from {{ ref(source_model) }}
where {% if filter %}{{ filter }}
    and {% endif %}
{%- if is_incremental() -%}
    {{ landed_since_or_rebuilt(incremental_watermark('ingested_watermark')) }}
{%- else -%}
    {{ not_excluded_user('user_id') }}
{%- endif %}
{%- endmacro %}

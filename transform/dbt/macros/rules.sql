{#- The play rule (DESIGN §4): a listen counts as a play when it lasted at least `min_play_ms`, or when the
    duration is unknown (the API's recently-played does not say). -#}
{% macro counts_as_play(ms_played_column) -%}
    ({{ ms_played_column }} is null or {{ ms_played_column }} >= {{ var('min_play_ms') | int }})
{%- endmacro %}

{#- Text normalised for matching names across sources: lower case, common Latin accents folded, punctuation
    ignored, white space collapsed. -#}
{% macro normalize_name(column) -%}
    nullif(trim(regexp_replace(
        translate(lower({{ column }}), 'áàâäãåāéèêëēíìîïīóòôöõøōúùûüūñńçćšśžźýÿ', 'aaaaaaaeeeeeiiiiiooooooouuuuunnccsszzyy'),
        '[^[:alnum:]]+', ' ', 'g'
    )), '')
{%- endmacro %}

{#- `local:<md5(lower(artist name))>`: the id of an artist only known by name (exports without a URI). -#}
{% macro local_artist_id(name_column) -%}
    case when {{ name_column }} is not null then 'local:' || md5(lower({{ name_column }})) end
{%- endmacro %}

{#- md5 surrogate key of the given expressions, null-safe (a small stand-in for dbt_utils, which needs the hub). -#}
{% macro surrogate_key(columns) -%}
    md5(concat_ws('|', {% for column in columns %}coalesce(cast({{ column }} as text), ''){% if not loop.last %}, {% endif %}{% endfor %}))
{%- endmacro %}

{#- The watermark of an incremental model: max(column) in the existing table as a SQL literal. Evaluated
    when the model is compiled, i.e. before any pre-hook runs. -#}
{% macro incremental_watermark(column) -%}
    {%- if execute -%}
        {%- set result = run_query("select coalesce(max(" ~ column ~ "), '-infinity'::timestamptz)::text from " ~ this) -%}
        {%- set value = result.columns[0].values()[0] -%}
    {%- else -%}
        {%- set value = '-infinity' -%}
    {%- endif -%}
    '{{ value }}'::timestamptz
{%- endmacro %}

{#- The `ingested_at` up to which every raw row is visible to this run: this transaction's start, or the start
    of the oldest other open transaction in the database if earlier (its rows carry that start as
    `ingested_at` but are not committed yet). The next run reads rows with `ingested_at >=` it, so rows of a
    transaction that commits late are never skipped. -#}
{% macro ingested_watermark_expression() -%}
    least(
        now(),
        (
            select min(xact_start)
            from pg_stat_activity
            where datname = current_database()
                and pid <> pg_backend_pid()
                and xact_start is not null
        )
    )
{%- endmacro %}

{#- A `where` for tests of the big play models: all rows, or only those of the last run (var test_recent_only). -#}
{% macro recent_rows_only(column='transformed_at') -%}
    {%- if var('test_recent_only') -%}
        {{ column }} >= (select max({{ column }}) from {{ model }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- "artist|title", normalised: how a listen without a Spotify id is recognised on the other side. -#}
{% macro match_name_key(artist_column, title_column) -%}
    concat_ws('|', {{ normalize_name(artist_column) }}, {{ normalize_name(title_column) }})
{%- endmacro %}

{#- What an export listen is matched on in rules 2 and 3 of int_plays_deduplicated: its Spotify id, else the id its
    `local:` track resolved to, else "name:" and its normalised artist and title. -#}
{% macro listen_match_key() -%}
    case
            when track_id not like 'local:%' then track_id
            when resolved_track_id is not null then resolved_track_id
            else 'name:' || {{ match_name_key('primary_artist_name', 'track_name') }}
        end
{%- endmacro %}


{#- The post-hook of int_tracks_played and int_artists_played: drop the rows (`key`) that no play references any more
    through `plays_column` — a name-only listen absorbed by the extended record of the same listen, or resolved to
    a Spotify artist later (issue 15) — so the dimensions never list one track or artist twice. One anti-join
    against int_plays_deduplicated (its (user_id, …) indexes serve it as an index-only scan). -#}
{% macro delete_unplayed(key, plays_column) -%}
    delete from {{ this }} as stored
    where not exists (
        select from {{ ref('int_plays_deduplicated') }} as plays
        where plays.{{ plays_column }} = stored.{{ key }}
        {%- if not var('include_incognito') %}
            and not plays.is_incognito
        {%- endif %}
    )
{%- endmacro %}

{#- The second post-hook of int_tracks_played: a stored `last_played_at` whose play is gone (deleted when the
    listens around it were recomputed, e.g. an account record absorbed by the extended record of the same listen)
    is set to the latest play left. Probes int_plays_deduplicated's (track_id, played_at) index per track. -#}
{% macro refresh_last_played() -%}
    update {{ this }} as stored
    set last_played_at = latest.played_at
    from (
        select
            stored.track_id,
            (
                select max(plays.played_at) from {{ ref('int_plays_deduplicated') }} as plays
                where plays.track_id = stored.track_id
                {%- if not var('include_incognito') %} and not plays.is_incognito{% endif %}
            ) as played_at
        from {{ this }} as stored
        where not exists (
            select from {{ ref('int_plays_deduplicated') }} as plays
            where plays.track_id = stored.track_id and plays.played_at = stored.last_played_at
            {%- if not var('include_incognito') %} and not plays.is_incognito{% endif %}
        )
    ) as latest
    where stored.track_id = latest.track_id and latest.played_at is not null
{%- endmacro %}

{#- How long a scrobble's listen is taken to have lasted (a scrobble marks its start and says nothing of its length):
    the track's catalogue duration, else the length the scrobble service reported, else var
    `scrobble_default_duration_ms`; at most `max_listen_ms` (a day, the longest listen the listen contract admits),
    so that a scrobble's estimated end lies at most that far after its start (incremental runs find its play
    there, macros/changed_listens.sql). -#}
{% macro scrobble_duration_ms(catalogue_column, source_column) -%}
    least(
        greatest(coalesce({{ catalogue_column }}, {{ source_column }}, {{ var('scrobble_default_duration_ms') | int }}), 0),
        {{ var('max_listen_ms', 86400000) | int }}
    )
{%- endmacro %}

{#- Incremental support for int_plays_deduplicated.

    "Changed" listens are raw rows landed since the model's watermark (`ingested_at >= watermark`, see `ingested_watermark`), plus
    the export listens of tracks whose metadata (artists, resolution, the resolved track's artists) landed since
    then, plus the name-only
    export listens whose (artist, title) resolution changed (int_track_name_resolutions.changed_at), plus the API
    plays whose track's catalogue length landed when a name-only scrobble may pair with them (rule 5). A change can alter
    the dedupe of raw rows up to 2 × the match radius (tolerance + 1 minute) away (a new row steals a neighbour's partner), and deciding
    those needs rows up to 4 × it away. Changed rows are collapsed into per-user time ranges
    (islands) so that the model reads the raw tables by (user_id, played_at) index ranges. A scrobble's place in
    time is its start (`started_at`: its end is an estimate), and when a changed user has scrobbles the radius is
    the scrobble window (macros/scrobble_matching.sql, 2 hours) plus the match radius. -#}

{% macro changed_listens_sql(watermark) -%}
    select user_id, played_at from (
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
        union
        {#- A resolved listen takes its Spotify track's artists (int_listens_unioned): they may land later. #}
        select resolutions.local_track_id
        from {{ ref('stg_spotify_api__track_resolutions') }} as resolutions
        inner join {{ ref('stg_spotify_api__track_artists') }} as track_artists
            on resolutions.spotify_track_id = track_artists.track_id
        where track_artists.ingested_at >= {{ watermark }} and resolutions.resolution_status = 'resolved'
    )
    union all
    select export_name_keys.user_id, export_name_keys.played_at
    from {{ ref('int_export_name_keys') }} as export_name_keys
    inner join {{ ref('int_track_name_resolutions') }} as resolutions
        on export_name_keys.name_key = resolutions.name_key
    where resolutions.changed_at >= {{ watermark }}
    union all
    {#- Scrobbles landed, whose name resolution changed, or whose track's catalogue length (their estimated
        duration) landed: their users are recomputed whole (see incremental_dedupe_plan). #}
    select user_id, started_at from {{ ref('stg_scrobbles__listens') }} where ingested_at >= {{ watermark }}
    union all
    select scrobble_name_keys.user_id, scrobble_name_keys.started_at
    from {{ ref('int_scrobble_name_keys') }} as scrobble_name_keys
    inner join {{ ref('int_track_name_resolutions') }} as resolutions
        on scrobble_name_keys.name_key = resolutions.name_key
    where resolutions.changed_at >= {{ watermark }}
        or resolutions.unambiguous_track_id in (
            select track_id from {{ ref('stg_spotify_api__tracks') }} where ingested_at >= {{ watermark }}
        )
    union all
    select scrobbles.user_id, scrobbles.started_at
    from {{ ref('stg_scrobbles__listens') }} as scrobbles
    where scrobbles.track_id in (
        select track_id from {{ ref('stg_spotify_api__tracks') }} where ingested_at >= {{ watermark }}
    )
    union all
    {#- API plays whose track's catalogue length landed: rule 5 takes an API play's duration from it. Only those a
        scrobble without a Spotify id started within a scrobble window before may pair with (by name); a scrobble
        with the track's id is marked above, and no other listen reads the length. #}
    select plays.user_id, plays.played_at
    from {{ ref('stg_spotify_api__plays') }} as plays
    where plays.track_id in (
            select track_id from {{ ref('stg_spotify_api__tracks') }} where ingested_at >= {{ watermark }}
        )
        and exists (
            select from {{ ref('stg_scrobbles__listens') }} as scrobbles
            where scrobbles.user_id = plays.user_id
                and scrobbles.track_id is null
                and scrobbles.started_at between plays.played_at - interval '{{ scrobble_window_seconds() | trim }} seconds'
                    and plays.played_at
        )
    union all
    {#- Stored plays whose artist id is one a changed name → artist resolution gave or takes away (the listens'
        raw rows lie within the radius of played_at; a scrobble alone is placed at its start, its estimated end
        less its estimated length). Users × changed ids probe the (user_id, primary_artist_id) index. #}
    select
        plays.user_id,
        case
            when plays.ms_played_estimated then plays.played_at - plays.ms_played * interval '1 millisecond'
            else plays.played_at
        end
    from {{ ref('stg_app__users') }} as users
    cross join (
        select 'local:' || md5(artist_key) as artist_id
        from {{ ref('int_artist_name_resolutions') }}
        where changed_at >= {{ watermark }}
        union
        select previous_artist_id
        from {{ ref('int_artist_name_resolutions') }}
        where changed_at >= {{ watermark }} and previous_artist_id is not null
    ) as changed_artists
    inner join {{ this }} as plays
        on plays.user_id = users.user_id and plays.primary_artist_id = changed_artists.artist_id
    ) as changed_or_excluded
    {#- Users the runner excluded from this build change nothing; those it rebuilds change entirely. #}
    where {{ not_excluded_user('user_id') }}
    {{ rebuilt_users_listens_sql() }}
{%- endmacro %}

{#- Users whose time zone changed since the watermark (a trigger stamps app.users.timezone_changed_at): every
    listen of theirs is recomputed, for its local date, hour and weekday. -#}
{% macro zone_changed_users_sql(watermark) -%}
    select user_id from {{ ref('stg_app__users') }}
    where timezone_changed_at >= {{ watermark }} and {{ not_excluded_user('user_id') }}
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

{#- What an incremental run of int_plays_deduplicated recomputes, decided when it is compiled (before the
    pre-hook runs), so that the model and its pre-hook agree and PostgreSQL gets literal ranges it can answer
    from the (user_id, played_at) indexes of the raw tables:
      mode 'none'   — nothing changed;
      mode 'ranges' — `context` ranges (changed ± 4 × radius) are read, plays with a raw row in the
                      `core` ranges (changed ± 2 × radius) are recomputed. The radius (`radius`, seconds) is the
                      match radius, or, when a changed user has scrobbles (`scrobbles`), the scrobble window plus
                      it: a scrobble's match window is a track long, cut at that window (rule 5), so a poll of
                      a user with ten years of scrobbles recomputes hours around it, not the ten years;
      mode 'users'  — many changes (an import) or a time zone changed: every listen of the changed `users` is
                      recomputed. -#}
{% macro incremental_dedupe_plan(watermark, match_radius) -%}
    {%- if not execute -%}
        {{- return({'mode': 'none', 'context': [], 'core': [], 'users': [], 'radius': match_radius, 'scrobbles': false}) -}}
    {%- endif -%}
    {%- set zone_users = run_query(
        "select distinct zone_users.user_id::text from (" ~ zone_changed_users_sql(watermark) ~ ") as zone_users"
        ~ " where exists (select from " ~ this ~ " as plays where plays.user_id = zone_users.user_id)"
    ).columns[0].values() | list -%}
    {%- set stats = run_query(
        "select count(*), coalesce(array_to_string(array_agg(distinct user_id::text), ','), '') from ("
        ~ changed_listens_sql(watermark) ~ ") as changed"
    ) -%}
    {%- set changed_rows = stats.columns[0].values()[0] | int -%}
    {%- set users = (stats.columns[1].values()[0] or '').split(',') | reject('equalto', '') | list -%}
    {%- if zone_users | length > 0 -%}
        {{- return({'mode': 'users', 'context': [], 'core': [], 'users': (users + zone_users) | unique | list,
                    'radius': match_radius, 'scrobbles': false}) -}}
    {%- endif -%}
    {%- if changed_rows == 0 -%}
        {{- return({'mode': 'none', 'context': [], 'core': [], 'users': [], 'radius': match_radius, 'scrobbles': false}) -}}
    {%- endif -%}
    {%- set quoted_users = [] -%}
    {%- for user_id in users -%}{%- do quoted_users.append("'" ~ user_id ~ "'::uuid") -%}{%- endfor -%}
    {%- set scrobbling = run_query(
        "select exists (select from " ~ ref('stg_scrobbles__listens') ~ " where user_id in ("
        ~ quoted_users | join(', ') ~ "))"
    ).columns[0].values()[0] -%}
    {%- set radius = (scrobble_window_seconds() | int) + match_radius if scrobbling else match_radius -%}
    {%- set ranges = {} -%}
    {%- for name, range_radius in [('context', 4 * radius), ('core', 2 * radius)] -%}
        {%- set result = run_query(
            "select user_id::text, range_start::text, range_end::text from ("
            ~ changed_ranges_sql(watermark, range_radius) ~ ") as ranges order by 1, 2"
        ) -%}
        {%- do ranges.update({name: result.rows | list}) -%}
    {%- endfor -%}
    {%- if changed_rows > var('dedupe_full_user_threshold') | int or ranges['context'] | length > 200 -%}
        {{- return({'mode': 'users', 'context': [], 'core': [], 'users': users, 'radius': radius,
                    'scrobbles': scrobbling}) -}}
    {%- endif -%}
    {{- return({'mode': 'ranges', 'context': ranges['context'], 'core': ranges['core'], 'users': users,
                'radius': radius, 'scrobbles': scrobbling}) -}}
{%- endmacro %}

{#- A boolean SQL expression: (user, time) lies in one of `ranges` (literal bounds, index-friendly), widened by
    `pad_seconds` before and `pad_after_seconds` (default: the same) after. -#}
{% macro in_ranges(user_column, time_column, ranges, pad_seconds=0, pad_after_seconds=none) -%}
    {%- if ranges | length == 0 -%}
        false
    {%- else -%}
        (
        {%- for user_id, range_start, range_end in ranges %}
            {% if not loop.first %}or {% endif -%}
            ({{ user_column }} = '{{ user_id }}'::uuid and {{ time_column }} between
                '{{ range_start }}'::timestamptz - interval '{{ pad_seconds }} seconds'
                and '{{ range_end }}'::timestamptz + interval '{{ pad_seconds if pad_after_seconds is none else pad_after_seconds }} seconds')
        {%- endfor %}
        )
    {%- endif -%}
{%- endmacro %}

{#- The pre-hook of int_plays_deduplicated: remove the stored plays that contain a raw row the model is about
    to recompute (their API side at played_at, their export side at export_played_at, their scrobble by
    scrobble_id: it started in a core range; the play ends from a minute before its start, a Spotify listen's end,
    to at most `max_listen_ms` after, a scrobble alone's estimated end). Rendered before the model's watermark
    moves. When the model reads whole histories (a full refresh, or users mode) it first allows hash joins only:
    its CTEs have no statistics, and PostgreSQL, guessing thousands of rows where there are a million and billions
    for their left joins, answered the final pass with merge joins over sorts of every listen and nested loops (over
    8 minutes at 1M instead of seconds, bench/README.md). Ranges mode (a poll) reads a few hundred rows through
    index ranges and keeps the planner's choice. -#}
{% macro hash_joins_only() -%}
    set local enable_mergejoin = off; set local enable_nestloop = off;
{%- endmacro %}

{% macro delete_recomputed_plays() -%}
    {%- if not is_incremental() -%}
        {{ hash_joins_only() }} select 1
    {%- endif -%}
    {%- if is_incremental() -%}
        {#- The tolerance plus a minute for the account format, as in int_plays_deduplicated. -#}
        {%- set match_radius = var('dedupe_tolerance_seconds') | int + 60 -%}
        {%- set plan = incremental_dedupe_plan(incremental_watermark('ingested_watermark'), match_radius) -%}
        {%- if plan['mode'] == 'users' -%}
            {{ hash_joins_only() }}
            delete from {{ this }}
            where user_id in ({% for user_id in plan['users'] %}'{{ user_id }}'::uuid{% if not loop.last %}, {% endif %}{% endfor %})
        {%- elif plan['mode'] == 'ranges' -%}
            delete from {{ this }}
            where (
                {{ in_ranges('user_id', 'played_at', plan['core'], plan['radius']) }}
                {%- if plan['scrobbles'] %}
                and not ms_played_estimated  {#- a scrobble alone: its played_at is no raw row's time #}
                {%- endif %}
                and (
                    {{ in_ranges('user_id', 'played_at', plan['core']) }}
                    or {{ in_ranges('user_id', 'export_played_at', plan['core']) }}
                )
            )
            {%- if plan['scrobbles'] %}
            or (
                {{ in_ranges('user_id', 'played_at', plan['core'], plan['radius'],
                    [plan['radius'], (var('max_listen_ms', 86400000) | int) // 1000] | max) }}
                and scrobble_id in (
                    select scrobble_id from {{ ref('stg_scrobbles__listens') }}
                    where {{ in_ranges('user_id', 'started_at', plan['core']) }}
                )
            )
            {%- endif %}
        {%- else -%}
            select 1
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

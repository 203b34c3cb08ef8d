{#- What keeps one user's data from stopping the warehouse for everyone (docs/warehouse-contract.md,
    "Isolation"). Two lines of defence:

    1. The listen contract: a raw listen is only modelled when it can be a real listen. Rows outside it (end
       before Spotify launched or more than a day after they were landed, a duration below zero or above
       `max_listen_ms`) stay out of every model and are listed, with the reason, in
       staging.stg_spotify__out_of_contract_listens. The import refuses such rows (core/play_time.py); this
       catches those landed before that check existed, or by any other way in.
    2. Per-user exclusion: when a build fails anyway, the runner (transform/isolation.py) finds the users whose
       data fails it, empties their warehouse rows and builds everyone else with them in `excluded_users`.
       When their data changes, it builds them again with them in `rebuild_users`: every listen of theirs
       counts as changed, so the incremental models recompute them whole. -#}

{%- macro listen_contract_violation(played_at, ms_played, ingested_at) -%}
    case
        when {{ played_at }} < '2006-04-23'::timestamptz then 'played_at before 2006-04-23, when Spotify launched'
        when {{ played_at }} > {{ ingested_at }} + interval '1 day'
            then 'played_at more than a day after the row was landed'
        when {{ ms_played }} < 0 then 'ms_played below zero'
        when {{ ms_played }} > {{ var('max_listen_ms', 86400000) | int }}
            then 'ms_played above max_listen_ms ({{ var('max_listen_ms', 86400000) | int }})'
    end
{%- endmacro %}

{%- macro in_listen_contract(played_at, ms_played, ingested_at) -%}
    ({{ played_at }} between '2006-04-23'::timestamptz and {{ ingested_at }} + interval '1 day'
        and coalesce({{ ms_played }} between 0 and {{ var('max_listen_ms', 86400000) | int }}, true))
{%- endmacro %}

{#- The users of `var(name)` (a list of uuid strings) as a SQL list, or none. -#}
{%- macro _user_list(name) -%}
    {%- for user_id in var(name, []) -%}
        '{{ user_id | string | replace("'", "") }}'::uuid{% if not loop.last %}, {% endif %}
    {%- endfor -%}
{%- endmacro %}

{#- `user_id` is not one of the users the runner excluded from this build. -#}
{%- macro not_excluded_user(column='user_id') -%}
    {%- if var('excluded_users', []) | length > 0 -%}
        {{ column }} not in ({{ _user_list('excluded_users') }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- Every listen of the users the runner asks to rebuild, as (user_id, played_at): changed listens for the
    incremental models (macros/changed_listens.sql). -#}
{%- macro rebuilt_users_listens_sql() -%}
    {%- if var('rebuild_users', []) | length > 0 -%}
    union all
    select user_id, played_at from {{ ref('stg_spotify_api__plays') }}
    where user_id in ({{ _user_list('rebuild_users') }})
    union all
    select user_id, played_at from {{ ref('stg_spotify_export__records') }}
    where user_id in ({{ _user_list('rebuild_users') }})
    union all
    select user_id, started_at from {{ ref('stg_scrobbles__listens') }}
    where user_id in ({{ _user_list('rebuild_users') }})
    {%- endif -%}
{%- endmacro %}

{#- The rows an incremental model keyed by user reads on this run: those landed since `since`, plus every row of
    the users the runner rebuilds (their warehouse rows were emptied), never those of excluded users. -#}
{%- macro landed_since_or_rebuilt(since, user_column='user_id', ingested_column='ingested_at') -%}
    ({{ ingested_column }} >= {{ since }}
    {%- if var('rebuild_users', []) | length > 0 %} or {{ user_column }} in ({{ _user_list('rebuild_users') }}){% endif -%}
    ) and {{ not_excluded_user(user_column) }}
{%- endmacro %}

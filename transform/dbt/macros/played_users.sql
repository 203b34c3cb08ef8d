{#- int_tracks_played and int_artists_played aggregate over every user's plays (a track's sources, its MusicBrainz
    id), but keep no row per user: deleting a user (transform.warehouse_purge deletes rows by `user_id`) cannot take
    their contribution out of those rows, and an incremental run folds only new plays in. So each of the two tables
    stores, in every row, a digest of the set of users whose plays it was built from (`played_users_digest`: md5 of
    their sorted ids, so no id is kept), and a run that finds the set changed — a user deleted, excluded by the
    runner, or a new one — recomputes the table whole from int_plays_deduplicated, as a full refresh does.
    The digest costs one index probe of int_plays_deduplicated per user. It is read once, when the model is
    compiled, and that value is what the rows store: a user deleted while the model runs changes the set again, and
    the next run recomputes. -#}

{% macro played_users_digest_sql() -%}
    select coalesce(md5(string_agg(users.user_id::text, ',' order by users.user_id)), '')
    from {{ ref('stg_app__users') }} as users
    where exists (select from {{ ref('int_plays_deduplicated') }} as plays where plays.user_id = users.user_id)
{%- endmacro %}

{#- The digest of the users with plays now (empty while parsing). -#}
{% macro played_users_digest() -%}
    {%- set query = played_users_digest_sql() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {{ return(run_query(query).columns[0].values()[0]) }}
{%- endmacro %}

{#- Whether this incremental run folds the new plays into the stored rows (true), or recomputes every row (the
    users with plays are not those the stored rows were built from, `digest`; or the table predates the digest). -#}
{% macro folds_new_plays(digest) -%}
    {%- if not is_incremental() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- if not execute -%}
        {{ return(true) }}
    {%- endif -%}
    {%- if lacks_column('played_users_digest') -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set stored = run_query("select max(played_users_digest) from " ~ this).columns[0].values()[0] -%}
    {{ return(stored == digest) }}
{%- endmacro %}

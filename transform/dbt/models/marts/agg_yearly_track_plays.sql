{#- Per user, local calendar year (year_start, 1 January), track and primary artist: the per-day rows of
    agg_daily_track_plays summed over the year (plays, listens, ms_played). Rows without a play are kept and a
    track whose primary artist changed within the year has a row per artist, so any sum over whole years equals the
    sum over their per-day rows: a window's per-track and per-artist totals read a year's ~35,000 rows (at
    1,000,000 plays over 10 years) instead of its ~90,000 per-day rows (core/marts/rankings.py, years_cover).
    first_local_date / last_local_date: the row's first and last day (with a listen), so that agg_track_totals is
    a sum over these rows instead of over every per-day row.
    Read by history.recap and history.discoveries. Incremental: a run recomputes the (user, year)s of its changed
    plays (macros/story_changes.sql); a table stored before the date columns is recomputed whole once. The SQL is
    macros/monthly_plays.sql at the year grain (the monthly marts are the same sums per month). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        pre_hook=["{{ 'delete from ' ~ this if lacks_column('first_local_date') else delete_recomputed_story_rows('year') }}"],
        indexes=[
            {'columns': ['user_id', 'year_start', 'track_id', 'primary_artist_id'], 'unique': True},
        ]
    )
}}
-- depends_on: {{ ref('fct_plays') }} (the changed plays name what a run recomputes)

{{ subject_plays_by_period('year', 'track', incremental=is_incremental() and not lacks_column('first_local_date')) }}

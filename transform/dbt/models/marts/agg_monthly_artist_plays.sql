{#- Per user, local month and artist (each day's primary artist): plays, listening time, rank among the month's
    artists and their number (macros/monthly_plays.sql at the month
    grain, shared with agg_monthly_track_plays and, at the year grain, agg_yearly_track_plays).
    Read by history.artist_history (plays per month, rank over time, eras) without touching per-day rows. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook=["{{ delete_recomputed_story_rows('month') }}"],
        indexes=[
            {'columns': ['user_id', 'artist_id', 'month_start'], 'unique': True},
            {'columns': ['user_id', 'month_start', 'rank']},
        ]
    )
}}
-- depends_on: {{ ref('fct_plays') }} (the changed plays name what a run recomputes)

{{ subject_plays_by_period('month', 'artist') }}

{#- Per user, local month and track: plays, listening time, the track's largest primary artist, rank among the
    month's tracks and their number (macros/monthly_plays.sql at the month
    grain, shared with agg_monthly_artist_plays and, at the year grain, agg_yearly_track_plays).
    Read by history.track_history (plays per month, rank over time, eras). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook=["{{ delete_recomputed_story_rows('month') }}"],
        indexes=[
            {'columns': ['user_id', 'track_id', 'month_start'], 'unique': True},
            {'columns': ['user_id', 'month_start', 'rank']},
        ]
    )
}}
-- depends_on: {{ ref('fct_plays') }} (the changed plays name what a run recomputes)

{{ subject_plays_by_period('month', 'track') }}

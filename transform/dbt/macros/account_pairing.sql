{#- Rule 2 of int_plays_deduplicated (docs/warehouse-contract.md, "Listen identity"): account-data records absorbed
    by the extended-history record of the same listen. Rendered inside int_plays_deduplicated's statement as the
    CTEs from `account_keys` to `absorbed_account_records`; it reads the CTE `distinct_listens` (every raw listen,
    one per source row, with `is_core`), and `absorbed_account_records` is the pairs (account record, extended
    record) with the account record's `ingested_at` and `is_core`. A macro, not a model, for the reason
    macros/scrobble_matching.sql gives. -#}
{% macro account_pairing_ctes() -%}
-- Account-data records absorbed by the extended-history record of the same listen (rule 2). The account end
-- time is a whole minute, so "ts in [endTime, endTime + 60 s)" is an equi-join on the extended ts's minute.
account_keys as (
    select
        export_record_id,
        user_id,
        played_at,
        content_kind,
        ms_played,
        is_core,
        ingested_at,
        {{ listen_match_key() }} as match_key
    from distinct_listens
    where listen_source = 'import_zip' and source_format = 'account'
),

-- The users with account records (and whether some are known by name only): a few rows, materialized, so that
-- the extended records are filtered by hashing them. A semi-join on account_keys itself was answered by a nested
-- loop that rescanned every account record for each listen (quadratic: 200,000 account records against 1M listens
-- never finished, bench/README.md).
account_users as materialized (
    select user_id, bool_or(match_key like 'name:%') as has_name_keys
    from account_keys
    group by user_id
),

extended_keys as (
    select
        export_record_id,
        user_id,
        played_at,
        content_kind,
        ms_played,
        {{ listen_match_key() }} as match_key
    from distinct_listens
    where listen_source = 'import_zip' and source_format <> 'account'
        and user_id in (select user_id from account_users)
    union
    -- By name too, for account records without an id (names are normalised only for users who have any).
    select
        export_record_id,
        user_id,
        played_at,
        content_kind,
        ms_played,
        'name:' || {{ match_name_key('primary_artist_name', 'track_name') }} as match_key
    from distinct_listens
    where listen_source = 'import_zip' and source_format <> 'account'
        and user_id in (select user_id from account_users where has_name_keys)
),

account_candidate_pairs as (
    select
        account_keys.export_record_id as account_record_id,
        extended_keys.export_record_id as extended_record_id,
        abs(coalesce(account_keys.ms_played, 0) - coalesce(extended_keys.ms_played, 0)) as ms_gap,
        extended_keys.played_at as extended_played_at
    from account_keys
    inner join extended_keys
        on account_keys.user_id = extended_keys.user_id
        and account_keys.match_key = extended_keys.match_key
        and account_keys.content_kind = extended_keys.content_kind
        and date_trunc('minute', account_keys.played_at) = date_trunc('minute', extended_keys.played_at)
        and extended_keys.played_at >= account_keys.played_at
        and extended_keys.played_at < account_keys.played_at + interval '60 seconds'
    where abs(coalesce(account_keys.ms_played, 0) - coalesce(extended_keys.ms_played, 0))
        <= {{ var('account_ms_tolerance') | int }}
),

absorbed_account_records as (
    select ranked.account_record_id, ranked.extended_record_id, account_keys.ingested_at, account_keys.is_core
    from (
        select
            account_record_id,
            extended_record_id,
            row_number() over (
                partition by account_record_id order by ms_gap, extended_played_at, extended_record_id
            ) as rank_for_account,
            row_number() over (
                partition by extended_record_id order by ms_gap, account_record_id
            ) as rank_for_extended
        from account_candidate_pairs
    ) as ranked
    inner join account_keys on ranked.account_record_id = account_keys.export_record_id
    where ranked.rank_for_account = 1 and ranked.rank_for_extended = 1
),
{%- endmacro %}

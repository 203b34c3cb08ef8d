-- Raw listens the warehouse leaves out because they cannot be real listens (macros/user_isolation.sql): which
-- row, whose, and why. Every other model sees only listens within the contract; this view is where an operator
-- finds the rest (docs/warehouse-contract.md, "Isolation").
with api_plays as (
    select
        'spotify_api' as listen_source,
        id as raw_id,
        user_id,
        played_at,
        ms_played,
        ingested_at,
        {{ listen_contract_violation('played_at', 'ms_played', 'ingested_at') }} as violation
    from {{ source('spotify_api', 'api_plays') }}
    where not {{ in_listen_contract('played_at', 'ms_played', 'ingested_at') }}
),

export_records as (
    select
        'import_zip' as listen_source,
        id as raw_id,
        user_id,
        played_at,
        ms_played,
        ingested_at,
        {{ listen_contract_violation('played_at', 'ms_played', 'ingested_at') }} as violation
    from {{ source('spotify_export', 'export_records') }}
    where not {{ in_listen_contract('played_at', 'ms_played', 'ingested_at') }}
)

select * from api_plays
union all
select * from export_records

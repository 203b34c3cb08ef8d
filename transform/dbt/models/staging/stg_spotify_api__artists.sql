with source as (
    select * from {{ source('spotify_api', 'artists') }}
)

select
    artist_id,
    name as artist_name,
    case when jsonb_typeof(genres) = 'array' then genres else '[]'::jsonb end as genres,
    popularity,
    uri,
    source,
    details_fetched_at,
    ingested_at
from source

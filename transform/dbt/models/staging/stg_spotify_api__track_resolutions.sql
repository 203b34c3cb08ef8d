with source as (
    select * from {{ source('spotify_api', 'track_resolutions') }}
)

select
    local_track_id,
    spotify_track_id,
    status as resolution_status,
    confidence,
    method as resolution_method,
    ingested_at
from source

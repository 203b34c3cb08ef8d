with source as (
    select * from {{ source('app', 'users') }}
)

select
    id as user_id,
    display_name,
    timezone,
    status as user_status
from source

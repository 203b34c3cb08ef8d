with source as (
    select * from {{ source('app', 'users') }}
)

select
    id as user_id,
    display_name,
    timezone,
    timezone_changed_at,
    status as user_status
from source

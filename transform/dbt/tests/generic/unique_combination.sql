{#- The combination of `columns` is unique in the model (a stand-in for dbt_utils', which needs the hub). -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as occurrences
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

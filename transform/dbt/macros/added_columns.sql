{#- An incremental model that gains a column (on_schema_change='append_new_columns') finds its stored rows without
    it: dbt adds the column, null in every stored row, only after the pre-hooks and the model's select have run.
    `lacks_column` says so, to the pre-hook and to the select alike, so the model can recompute every row that
    one time instead of leaving nulls behind until a full refresh. -#}
{% macro lacks_column(column) -%}
    {%- if not is_incremental() or not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {{ return(column not in (adapter.get_columns_in_relation(this) | map(attribute='name') | list)) }}
{%- endmacro %}

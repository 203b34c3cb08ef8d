{#- Exact schema names (`staging`, `intermediate`, `marts`) instead of dbt's `<target schema>_<custom>`:
    the API and the dashboards read `marts.fct_plays`, whatever the profile's default schema is. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}

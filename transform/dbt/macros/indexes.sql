{#- A post-hook for incremental models: create the configured indexes (`indexes` in the model's config) that the
    table lacks. dbt creates them only when it builds the table anew (first run, full refresh), so an index added
    to a model's config later never reached an installation whose table predates it, until a full refresh. Each
    index is looked up by its columns and uniqueness in pg_index (one catalogue lookup per index and run; dbt's
    own names embed a timestamp), so an index present under any name is never built twice or rebuilt. -#}
{% macro create_missing_indexes() -%}
    {%- if is_incremental() and config.get('indexes') -%}
        do $create_missing_indexes$
        begin
        {%- for index in config.get('indexes') %}
            if not exists (
                select from pg_index as ix
                where ix.indrelid = '{{ this }}'::regclass
                    and ix.indisunique = {{ 'true' if index.get('unique') else 'false' }}
                    and ix.indexprs is null and ix.indpred is null
                    and array(
                        select attribute.attname::text
                        from unnest(ix.indkey) with ordinality as key(attnum, position)
                        inner join pg_attribute as attribute
                            on attribute.attrelid = ix.indrelid and attribute.attnum = key.attnum
                        order by key.position
                    ) = array[{% for column in index['columns'] %}'{{ column }}'{% if not loop.last %}, {% endif %}{% endfor %}]::text[]
            ) then
                {{ get_create_index_sql(this, index) }};
            end if;
        {%- endfor %}
        end
        $create_missing_indexes$
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

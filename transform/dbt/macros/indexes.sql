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

{#- A post-hook: a trigram index on `lower(<column>)` (GIN, pg_trgm's gin_trgm_ops), which serves
    `lower(<column>) LIKE '%…%'` — the "name contains" searches of the tools — with a few index pages instead of a
    scan. Built only where pg_trgm is installed (migration 0014 enables it; a role that may not create extensions
    leaves it out, and the searches give the same rows from a scan). Unnamed: during a table rebuild the previous
    table still holds its index under the name PostgreSQL chose, until dbt drops it. -#}
{% macro create_trigram_index(column) -%}
    do $create_trigram_index$
    declare
        trgm_schema name := (
            select namespace.nspname from pg_extension as extension
            inner join pg_namespace as namespace on namespace.oid = extension.extnamespace
            where extension.extname = 'pg_trgm'
        );
    begin
        if trgm_schema is not null then
            execute format(
                'create index on {{ this }} using gin (lower({{ column }}) %I.gin_trgm_ops)', trgm_schema
            );
        end if;
    end
    $create_trigram_index$
{%- endmacro %}

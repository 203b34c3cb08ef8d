{#
  Planner statistics for a table the run has just (re)built whole. PostgreSQL's autovacuum analyzes a table only
  after a while (and after each full refresh the tables are new), so the models built next in the same run were
  planned with default estimates: on 1M plays the planner guessed 2-3x too few rows and chose nested loops and
  on-disk sorts (a full rebuild 158 s, routine runs 30-50 s; with statistics 19-20 s). ANALYZE samples
  ~30,000 rows, a fraction of a second even at 10M. Incremental runs change a few rows: autovacuum keeps up.
#}
{% macro analyze_rebuilt_table() %}
  {%- set materialized = config.get('materialized') -%}
  {%- if materialized == 'table' or (materialized == 'incremental' and should_full_refresh()) -%}
    analyze {{ this }}
  {%- endif -%}
{% endmacro %}

{#- Materialisation `incremental_batch`: dbt's incremental materialisation, preceded by the
    steps that decide what this run re-computes. A model file names its steps in config and is
    its `select`:

        {{ config(
            materialized='incremental_batch',
            stages=['touched_records'],
            replaces='links_of_touched_records',
            incremental_strategy='append',
        ) }}

    - `stages` (list): each name is a macro `stage_<name>()` whose statements run before the
      model's select, on every build. Most stage a batch into an indexed, analysed temp table
      (pg_temp.<name>) on incremental runs only, and render nothing on a full build (the model's
      select then reads the whole of its inputs); a stage the select needs on every build
      (cluster_labels) renders its statements on both.
    - `replaces` (name or list, incremental runs only): each name is a macro
      `delete_<name>()` deleting the rows this run is about to compute again (and rows that have
      no replacement, such as the links of a record that lost them), after the stages.
    - `watermark` (default computed_at): the model's own column whose latest value says when it
      last wrote; the stages read the batch changed after it.
    Then dbt's incremental materialisation runs as usual (pre-hooks, the select into a temp
    table, `incremental_strategy`, indexes, post-hooks). The steps run in its transaction, after
    the session settings of tune_session(): a run that fails leaves the table as it was.
    is_incremental() (macros/utils/is_incremental.sql) is true for these models as for
    `incremental` ones. The stage macros read other models by ref(): a model declares them
    with `-- depends_on:` so that lineage (and dbt's order) sees them.
    The steps are run by incremental_batch_steps() (macros/utils/incremental_batch_steps.sql,
    linted; sqlfluff cannot parse this file's `materialization` tag). -#}
{% materialization incremental_batch, adapter='postgres' -%}
    {%- do incremental_batch_steps() -%}
    {{ return(materialization_incremental_default()) }}
{%- endmaterialization %}

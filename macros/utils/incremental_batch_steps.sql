{#- The steps of materialisation incremental_batch (macros/materializations), run before
    dbt's incremental materialisation: every stage of config `stages` (stage_<name>()), then on
    an incremental run every replaced-rows step of config `replaces` (delete_<name>()), in one
    statement after tune_session()'s settings, in the model's transaction. Steps that render
    nothing (a stage on a full build) are left out. -#}
{% macro incremental_batch_steps() -%}
    {%- set statements = [] -%}
    {%- for name in _batch_step_names('stages') -%}
        {%- do statements.append(_batch_step('stage_', name)) -%}
    {%- endfor -%}
    {%- if is_incremental() -%}
        {%- for name in _batch_step_names('replaces') -%}
            {%- do statements.append(_batch_step('delete_', name)) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set statements = statements | map('trim') | reject('equalto', '') | list -%}
    {%- if statements -%}
        {%- call statement('incremental_batch_steps') -%}
            {{ tune_session() }};
            {{ statements | join(';\n') }}
        {%- endcall -%}
    {%- endif -%}
{%- endmacro %}

{#- The step names of config `key` (a name or a list of names). -#}
{% macro _batch_step_names(key) -%}
    {%- set names = config.get(key) or [] -%}
    {{ return([names] if names is string else names) }}
{%- endmacro %}

{#- The statements of the step macro `<prefix><name>`; a compile error names a missing one. -#}
{% macro _batch_step(prefix, name) -%}
    {%- set step = context.get(prefix ~ name) -%}
    {%- if step is none -%}
        {{ exceptions.raise_compiler_error(
            "incremental_batch: no macro " ~ prefix ~ name ~ " for config '" ~ name ~ "'"
        ) }}
    {%- endif -%}
    {{ return(step()) }}
{%- endmacro %}

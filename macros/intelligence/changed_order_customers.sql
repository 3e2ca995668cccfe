{#- The customers an incremental intelligence model must re-compute: those whose orders changed
    (int_customer_order_changes) after the model last wrote (max of `watermark`, a
    current_timestamp column of the model). Use inside `{% if is_incremental() %}`. A model
    that fails keeps its old watermark, so the next run picks the same customers up again;
    re-computing a customer twice gives the same rows. -#}
{% macro changed_order_customers(watermark='computed_at') -%}
    {%- do _require_watermark_column(watermark) -%}
    select customer_id
    from {{ ref('int_customer_order_changes') }}
    where
        orders_changed_at > (
            select coalesce(max({{ watermark }}), '-infinity'::timestamptz) from {{ this }}
        )
{%- endmacro %}

{#- pre_hook of a per-customer incremental model: delete the rows of the customers about to be
    re-computed. delete+insert alone would keep the old rows of a customer who now has none
    (every order cancelled, or all moved to another customer by a merge). -#}
{% macro delete_changed_order_customers(watermark='computed_at') -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where customer_id in ({{ changed_order_customers(watermark) }})
    {%- endif -%}
{%- endmacro %}

{#- A table built by a version without the watermark column cannot be caught up
    incrementally: say how to rebuild it (nothing is lost: it is derived from the orders). -#}
{% macro _require_watermark_column(watermark) -%}
    {%- if execute and this is not string and watermark is string and '(' not in watermark -%}
        {%- set existing = adapter.get_relation(this.database, this.schema, this.identifier) -%}
        {%- if existing is not none -%}
            {%- set names = adapter.get_columns_in_relation(existing) | map(attribute='name') | list -%}
            {%- if names and watermark not in names -%}
                {{ exceptions.raise_compiler_error(
                    this.identifier ~ " was built by an older version (no " ~ watermark
                    ~ " column): rebuild it once with `ciw dbt build --full-refresh --select "
                    ~ this.identifier ~ "+`"
                ) }}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- A where-clause condition: on an incremental run, only the customers whose orders changed
    (changed_order_customers); on a full build, every customer (`true`). -#}
{% macro is_changed_order_customer(watermark='computed_at') -%}
    {%- if is_incremental() -%}
        customer_id in ({{ changed_order_customers(watermark) }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

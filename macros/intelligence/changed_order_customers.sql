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

{#- Stage `changed_order_customers` (incremental_batch) of a per-customer incremental model
    (incremental runs): the customers whose orders changed after the model last wrote
    (changed_order_customers) into the analysed temp table pg_temp.changed_order_customers.
    The model reads the same staged customers (is_staged_customer), so its select and a
    delete of their rows agree even though the delete lowers the watermark it was computed
    from. int_customer_purchase_days keeps their rows: its incremental strategy
    sync_staged_customers replaces only those that changed. -#}
{% macro stage_changed_order_customers() -%}
    {%- if is_incremental() -%}
        {{ stage_customers('changed_order_customers', changed_order_customers()) }}
    {%- endif -%}
{%- endmacro %}

{#- A where-clause condition: on an incremental run, only the customers a pre_hook staged in
    pg_temp.<temp_table> (stage_changed_order_customers); on a full build, every customer
    (`true`). A dbt unit test runs no pre_hook: there the condition is `query` itself. -#}
{% macro is_staged_customer(temp_table='changed_order_customers', query=none) -%}
    {%- if not is_incremental() -%}
        true
    {%- elif model.resource_type == 'unit_test' -%}
        customer_id in ({{ query or changed_order_customers() }})
    {%- else -%}
        customer_id in (select staged.customer_id from pg_temp.{{ temp_table }} as staged)
    {%- endif -%}
{%- endmacro %}

{#- A table built by a version without the watermark column cannot be caught up
    incrementally: say how to rebuild it (nothing is lost: it is derived from the orders).
    Nothing to check where the warehouse cannot be read (can_introspect). -#}
{% macro _require_watermark_column(watermark) -%}
    {%- if can_introspect() and this is not string and watermark is string and '(' not in watermark -%}
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

{#- The as-of windows of int_customer_purchase_states, as `days` days before the as-of date
    (or an interval): a purchase day counts in a window when it is after its start. -#}
{% macro purchase_state_window_starts() -%}
    {{ return(["interval '12 months'", "365", var('lifecycle_active_days') | string]) }}
{%- endmacro %}

{#- Stage `purchase_state_customers` (incremental_batch) of int_customer_purchase_states
    (incremental runs), read when the materialisation runs: the customers whose row no longer
    holds (the replaced rows step of the same name deletes their rows), those whose orders
    changed since the model last wrote, and those with a purchase day that the move from the
    as-of date of its last written row to this run's as-of date took into or out of a window
    (past the as-of date itself, or past a window start: purchase_state_window_starts). With
    no rows yet, or a new var lifecycle_active_days, every customer. -#}
{% macro stage_purchase_state_customers() -%}
    {%- if is_incremental() -%}
        {%- do _require_watermark_column('computed_as_of_date') -%}
        {%- set days = ref('int_customer_purchase_days') -%}
        {%- set last = run_query(
            "select computed_as_of_date::text, active_window_days from " ~ this
            ~ " order by computed_at desc limit 1"
        ) -%}
        {%- if last.rows | length == 0
            or (last.columns[1].values()[0] | int) != (var('lifecycle_active_days') | int) -%}
            {%- set query -%}
                select customer_id from {{ days }}
                union all
                select customer_id from {{ this }}
            {%- endset -%}
        {%- else -%}
            {%- set before = "date '" ~ last.columns[0].values()[0] ~ "'" -%}
            {%- set earlier = 'least(' ~ before ~ ', ' ~ as_of_date() ~ ')' -%}
            {%- set later = 'greatest(' ~ before ~ ', ' ~ as_of_date() ~ ')' -%}
            {%- set query -%}
                {{ changed_order_customers() }}
                union all
                select customer_id
                from {{ days }}
                where
                    (purchase_date > {{ earlier }} and purchase_date <= {{ later }})
                    {%- for start in purchase_state_window_starts() %}
                        or (
                            purchase_date > {{ earlier }} - {{ start }}
                            and purchase_date <= {{ later }} - {{ start }}
                        )
                    {%- endfor %}
            {%- endset -%}
        {%- endif -%}
        {{ stage_customers('purchase_state_customers', query) }}
    {%- endif -%}
{%- endmacro %}

{#- Replaced rows `purchase_state_customers` (incremental_batch) of int_customer_purchase_states:
    the rows of the staged customers (a customer who now has no purchase day keeps none). -#}
{% macro delete_purchase_state_customers() -%}
    {{ delete_staged_customers('purchase_state_customers') }}
{%- endmacro %}

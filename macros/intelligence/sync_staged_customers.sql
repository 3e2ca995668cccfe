{#- Incremental strategy `sync_staged_customers` (config incremental_strategy): the model's new
    rows are every row of the customers a pre_hook staged in pg_temp.<staged_customers> (config
    staged_customers, default changed_order_customers; stage_changed_order_customers with
    delete=false). Only the differences are written: the staged customers' rows that are not
    among the new rows (changed or gone) are deleted, and the new rows that the table does not
    hold yet are inserted. A customer with a new order today gets one new row, not all of
    their purchase days rewritten. Rows are matched on config sync_key (columns never null)
    and compared on every other column but those in config sync_ignore (default
    ['computed_at']): an unchanged row keeps its computed_at. -#}
{% macro get_incremental_sync_staged_customers_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set staged = 'pg_temp.' ~ config.get('staged_customers', 'changed_order_customers') -%}
    {%- set key = config.get('sync_key', ['customer_id']) -%}
    {%- set ignored = config.get('sync_ignore', ['computed_at']) -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='name') | list -%}
    {%- set compared = columns | reject('in', key) | reject('in', ignored) | list -%}
    {#- = any(array): one index scan over the staged customers (joined to them, the planner
        misjudges how many rows they hold and scans the whole index) -#}
    {%- set old_is_staged =
        'old.customer_id = any(array(select staged.customer_id from ' ~ staged ~ ' as staged))' -%}
    {%- if 'customer_id' not in key -%}
        {{ exceptions.raise_compiler_error(
            "sync_staged_customers: config sync_key must hold customer_id (got " ~ key ~ ")"
        ) }}
    {%- endif -%}
    {#- statistics first: unanalysed, the new rows look few and the insert's anti-join
        hashes the whole table instead of probing its index -#}
    analyze {{ source }};
    delete from {{ target }} as old
    where
        {{ old_is_staged }}
        and not exists (
            select 1
            from {{ source }} as new
            where {{ _sync_same_row('old', 'new', key, compared) }}
        );
    {#- the anti-join reads the staged customers' old rows only (every new row is one of
        theirs): by the customer_id index, not a hash of the whole table -#}
    insert into {{ target }} ({{ get_quoted_csv(columns) }})
    select {{ get_quoted_csv(columns) }}
    from {{ source }} as new
    where not exists (
        select 1
        from {{ target }} as old
        where
            {{ old_is_staged }}
            and {{ _sync_same_row('old', 'new', key, compared) }}
    )
{%- endmacro %}

{#- Two rows agree: equal on the key (an equi-join the planner can hash), not distinct on
    the other compared columns. -#}
{% macro _sync_same_row(left, right, key, compared) -%}
    {%- for column in key %}{{ left }}.{{ column }} = {{ right }}.{{ column }}
    {%- if not loop.last %} and {% endif %}{% endfor %}
    {%- if compared %}
        and ({% for column in compared %}{{ left }}.{{ column }}{{ ", " if not loop.last }}{% endfor %})
        is not distinct from
        ({% for column in compared %}{{ right }}.{{ column }}{{ ", " if not loop.last }}{% endfor %})
    {%- endif %}
{%- endmacro %}

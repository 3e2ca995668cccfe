{#- Stage `changed_cost_customers` (incremental_batch) of customer_cost_to_serve (incremental
    runs): the customers whose cost to serve may have changed since the model last wrote (max
    computed_at) into the analysed temp table pg_temp.changed_cost_customers; the replaced rows
    step `changed_cost_customers` then deletes their rows (a customer merged away has no new
    row to replace it). A customer is changed when
    - their contacts, summed per month, no longer match what the model holds (a new, late or
      updated ticket, a ticket moved to or from them by the matched layer, a new median of
      handled minutes behind an estimated contact, a new contact rate);
    - the same for their returns (return_handling rates included);
    - a marketing send to one of their email contacts was loaded since, or the matched layer
      moved records to or from them since;
    - and every customer with marketing sends when the marketing_send rate changed.
    Contacts and returns are compared whole (thousands of rows a day, cheap); the sends,
    millions, are read only for the changed customers. -#}
{% macro stage_changed_cost_customers(watermark='computed_at') -%}
    {%- if is_incremental() -%}
        {%- do _require_watermark_column(watermark) -%}
        {%- set changed_query -%}
        with

        seen as (
            select coalesce(max({{ watermark }}), '-infinity'::timestamptz) as computed_up_to
            from {{ this }}
        ),

        held as not materialized (
            select
                customer_id,
                cost_month,
                contact_count,
                enquiry_count,
                complaint_count,
                contact_cost,
                return_count,
                return_handling_cost,
                marketing_send_count,
                marketing_cost
            from {{ this }}
        ),

        contacts_now as (
            {{ cost_to_serve_contact_costs('true') }}
        ),

        returns_now as (
            {{ cost_to_serve_return_costs('true') }}
        ),

        contacts_changed as (
            select coalesce(now_.customer_id, held.customer_id) as customer_id
            from contacts_now as now_
            full join (select * from held where contact_count > 0) as held
                on now_.customer_id = held.customer_id and now_.cost_month = held.cost_month
            where
                (
                    now_.contact_count,
                    now_.enquiry_count,
                    now_.complaint_count,
                    coalesce(now_.contact_cost, 0)::numeric(14, 2)
                )
                is distinct from
                (held.contact_count, held.enquiry_count, held.complaint_count, held.contact_cost)
        ),

        returns_changed as (
            select coalesce(now_.customer_id, held.customer_id) as customer_id
            from returns_now as now_
            full join (select * from held where return_count > 0) as held
                on now_.customer_id = held.customer_id and now_.cost_month = held.cost_month
            where
                (now_.return_count, coalesce(now_.return_handling_cost, 0)::numeric(14, 2))
                is distinct from (held.return_count, held.return_handling_cost)
        ),

        sends_loaded as (
            select identity_map.customer_id
            from {{ ref('stg_esp__events') }} as events
            inner join {{ ref('identity_map') }} as identity_map
                on
                    identity_map.source_system = 'esp'
                    and identity_map.source_table = 'contacts'
                    and events.contact_id = identity_map.source_record_id
            where
                events.event_type = 'send'
                and events.loaded_at > (select seen.computed_up_to from seen)
        ),

        reassigned as (
            select unnest(array[customer_id, previous_customer_id]) as customer_id
            from {{ ref('int_customer_ids_assigned') }}
            where assigned_at > (select seen.computed_up_to from seen)
        ),

        marketing_repriced as (
            select held.customer_id
            from held
            where
                held.marketing_send_count > 0
                and exists (
                    select 1
                    from held as sample
                    where
                        sample.marketing_send_count > 0
                        and sample.marketing_cost != (
                            sample.marketing_send_count * {{ cost_to_serve_marketing_rate() }}
                        )::numeric(14, 2)
                )
        ),

        changed as (
            select customer_id from contacts_changed
            union
            select customer_id from returns_changed
            union
            select customer_id from sends_loaded
            union
            select customer_id from reassigned
            union
            select customer_id from marketing_repriced
        )

        select customer_id from changed
        {%- endset -%}
        {{ stage_customers('changed_cost_customers', changed_query) }}
    {%- endif -%}
{%- endmacro %}

{#- Replaced rows `changed_cost_customers` (incremental_batch) of customer_cost_to_serve: the
    rows of the customers stage changed_cost_customers staged. -#}
{% macro delete_changed_cost_customers() -%}
    {{ delete_staged_customers('changed_cost_customers') }}
{%- endmacro %}

{#- The contact costs per customer and month (fct_contacts_costed) of the customers for whom
    `condition` holds: the model and its change detection sum them the same way. -#}
{% macro cost_to_serve_contact_costs(condition) -%}
    select
        customer_id,
        date_trunc('month', created_at at time zone 'utc')::date as cost_month,
        count(*) as contact_count,
        count(*) filter (where is_enquiry) as enquiry_count,
        count(*) filter (where is_complaint) as complaint_count,
        sum(contact_cost) as contact_cost
    from {{ ref('fct_contacts_costed') }}
    where customer_id is not null and {{ condition }}
    group by customer_id, date_trunc('month', created_at at time zone 'utc')::date
{%- endmacro %}

{#- The returns per customer and month (int_returns_attributed), each at the return_handling
    rate of the channel it came back through, for the customers for whom `condition` holds. -#}
{% macro cost_to_serve_return_costs(condition) -%}
    select
        returns.customer_id,
        date_trunc('month', returns.returned_at at time zone 'utc')::date as cost_month,
        count(*) as return_count,
        sum(rates.unit_cost) as return_handling_cost
    from {{ ref('int_returns_attributed') }} as returns
    left join {{ ref('service_cost_rates') }} as rates
        on
            rates.activity = 'return_handling'
            and returns.sales_channel = rates.channel
    where returns.customer_id is not null and {{ condition }}
    group by returns.customer_id, date_trunc('month', returns.returned_at at time zone 'utc')::date
{%- endmacro %}

{#- The unit cost of a marketing email (seeds/service_cost_rates.csv), as a scalar subquery:
    null when the seed has no rate. -#}
{% macro cost_to_serve_marketing_rate() -%}
    (
        select max(rates.unit_cost)
        from {{ ref('service_cost_rates') }} as rates
        where rates.activity = 'marketing_send' and rates.channel = 'email'
    )
{%- endmacro %}

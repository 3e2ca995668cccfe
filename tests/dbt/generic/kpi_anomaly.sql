{#- Alert: a KPI moved abnormally against its own recent history: on one of the last
    `recent_days` complete days it lies more than `z_score` standard deviations from its mean
    over the `history_days` days before (per `partition_by`, e.g. sales channel). Needs at
    least `min_history_days` days of history; `min_stddev` is the least variation assumed (for
    sparse counts, where a flat history of zeros would make any single event abnormal, or none). Returns the offending
    days with the figures. -#}
{% test kpi_anomaly(
    model,
    column_name,
    partition_by=none,
    history_days=none,
    z_score=none,
    recent_days=1,
    min_history_days=14,
    min_stddev=0,
    direction='both',
    date_column='kpi_date'
) %}

{%- set history_days = history_days or var('kpi_alert_history_days') -%}
{%- set z_score = z_score or var('kpi_alert_z_score') -%}

with

series as (

    select
        {{ date_column }} as kpi_date,
        {{ partition_by if partition_by else "'all'" }} as kpi_partition,
        coalesce({{ column_name }}, 0)::float as kpi_value
    from {{ model }}
    where {{ date_column }} < {{ as_of_date() }}

),

with_history as (

    select
        kpi_date,
        kpi_partition,
        kpi_value,
        avg(kpi_value) over history as history_mean,
        greatest(stddev_samp(kpi_value) over history, {{ min_stddev }}) as history_stddev,
        count(*) over history as history_days
    from series
    window history as (
        partition by kpi_partition order by kpi_date
        rows between {{ history_days }} preceding and 1 preceding
    )

)

select
    kpi_date,
    kpi_partition,
    kpi_value,
    history_mean,
    history_stddev,
    (kpi_value - history_mean) / history_stddev as z_score
from with_history
where
    kpi_date >= {{ as_of_date() }} - {{ recent_days }}
    and history_days >= {{ min_history_days }}
    and history_stddev > 0
    {% if direction == 'up' %}
        and (kpi_value - history_mean) / history_stddev > {{ z_score }}
    {% elif direction == 'down' %}
        and (kpi_value - history_mean) / history_stddev < -{{ z_score }}
    {% else %}
        and abs(kpi_value - history_mean) / history_stddev > {{ z_score }}
    {% endif %}

{% endtest %}

{#- What a person should look at: identifiers too widely shared to link anyone (family
    emails, shop phones, junk that escaped the blocklist) and customers that look over-merged
    (too many records, several dates of birth). -#}
with

identifiers as (

    select
        record_key,
        identifier_type,
        identifier_value
    from {{ ref('int_identifiers_unpivoted') }}

),

records as (

    select
        record_key,
        first_name_canonical
    from {{ ref('int_identity_records_unioned') }}

),

clustered as (

    select
        cluster_key,
        cluster_record_count,
        birth_date
    from {{ ref('int_identity_records_clustered') }}

),

shared_identifiers as (

    select
        'shared_identifier' as review_reason,
        identifiers.identifier_type || '=' || identifiers.identifier_value as review_subject,
        count(distinct records.first_name_canonical) as distinct_people,
        count(*) as record_count
    from identifiers
    inner join records on identifiers.record_key = records.record_key
    where identifiers.identifier_type not in ('{{ var("match_unguarded_identifiers") | join("', '") }}')
    group by identifiers.identifier_type, identifiers.identifier_value
    having
        count(distinct records.first_name_canonical) > {{ var('max_people_per_identifier') }}
        or count(*) > {{ var('max_records_per_customer') }}

),

suspicious_clusters as (

    select
        case
            when max(cluster_record_count) > {{ var('max_records_per_customer') }}
                then 'cluster_too_large'
            else 'several_birth_dates'
        end as review_reason,
        'cluster=' || cluster_key as review_subject,
        count(distinct birth_date) as distinct_people,
        max(cluster_record_count) as record_count
    from clustered
    group by cluster_key
    having
        max(cluster_record_count) > {{ var('max_records_per_customer') }}
        or count(distinct birth_date) > 1

),

unioned as (

    select * from shared_identifiers
    union all
    select * from suspicious_clusters

)

select
    *,
    md5(review_reason || review_subject) as review_id
from unioned

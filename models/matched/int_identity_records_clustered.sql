{#- Connected components of the link graph: every record gets the smallest record_key of its
    component as cluster_key. Iterative label propagation (PL/pgSQL loop in the pre-hook, plain
    SQL otherwise): each pass gives every record the smallest label of its neighbours until
    nothing changes; the number of passes is the graph's diameter, not its size. -#}
{{ config(
    pre_hook="
        drop table if exists pg_temp.cluster_labels;
        create temporary table cluster_labels as
            select record_key, record_key as cluster_key
            from " ~ ref('int_identity_records_unioned') ~ ";
        create index on cluster_labels (record_key);
        drop table if exists pg_temp.cluster_edges;
        create temporary table cluster_edges as
            select left_record_key as from_key, right_record_key as to_key
            from " ~ ref('int_identity_links_unioned') ~ "
            union all
            select right_record_key, left_record_key
            from " ~ ref('int_identity_links_unioned') ~ ";
        create index on cluster_edges (from_key);
        analyze cluster_labels;
        analyze cluster_edges;
        do $$
        declare changed bigint;
        begin
            loop
                update cluster_labels
                set cluster_key = smallest.cluster_key
                from (
                    select cluster_edges.from_key, min(neighbours.cluster_key) as cluster_key
                    from cluster_edges
                    inner join cluster_labels as neighbours
                        on cluster_edges.to_key = neighbours.record_key
                    group by cluster_edges.from_key
                ) as smallest
                where cluster_labels.record_key = smallest.from_key
                    and smallest.cluster_key < cluster_labels.cluster_key;
                get diagnostics changed = row_count;
                exit when changed = 0;
            end loop;
        end $$;
    "
) }}

with

records as (

    select
        record_key,
        source_system,
        source_table,
        source_record_id,
        birth_date,
        record_updated_at
    from {{ ref('int_identity_records_unioned') }}

),

labels as (

    select
        record_key,
        cluster_key
    from pg_temp.cluster_labels

),

clustered as (

    select
        records.record_key,
        labels.cluster_key,
        records.source_system,
        records.source_table,
        records.source_record_id,
        count(*) over (partition by labels.cluster_key) as cluster_record_count,
        records.birth_date,
        records.record_updated_at
    from records
    inner join labels on records.record_key = labels.record_key

)

select * from clustered

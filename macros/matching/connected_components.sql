{#- Connected components of an undirected edge list, into the session temp table
    cluster_labels(record_key, cluster_key): every node that has an edge ends with the smallest
    key of its component (a node without edges is a component of its own: callers coalesce).
    `edges_sql` is a select of (left_key, right_key).
    Plain SQL in a PL/pgSQL loop, no extension: the first pass gives every node the smallest
    of itself and its neighbours; each further pass pushes only the labels that changed in the
    pass before to their neighbours (a frontier), so the work shrinks with every pass and the
    passes needed are the graph's diameter (small for identity graphs), not its size. -#}
{% macro connected_components(edges_sql) -%}
drop table if exists pg_temp.cluster_edges;
create temporary table cluster_edges as
    with edges as ({{ edges_sql }})
    select left_key as from_key, right_key as to_key from edges
    union all
    select right_key, left_key from edges;
create index on cluster_edges (from_key);
analyze cluster_edges;
drop table if exists pg_temp.cluster_labels;
create temporary table cluster_labels as
    select from_key as record_key, least(from_key, min(to_key)) as cluster_key
    from cluster_edges
    group by from_key;
create unique index on cluster_labels (record_key);
analyze cluster_labels;
drop table if exists pg_temp.cluster_frontier;
create temporary table cluster_frontier as
    select record_key, cluster_key from cluster_labels where cluster_key < record_key;
do $$
declare
    changed bigint;
begin
    loop
        analyze cluster_frontier;
        drop table if exists pg_temp.cluster_frontier_next;
        create temporary table cluster_frontier_next as
        with pushed as (
            select cluster_edges.to_key as record_key, min(cluster_frontier.cluster_key) as cluster_key
            from cluster_frontier
            inner join cluster_edges on cluster_frontier.record_key = cluster_edges.from_key
            group by cluster_edges.to_key
        ),
        updated as (
            update cluster_labels
            set cluster_key = pushed.cluster_key
            from pushed
            where
                cluster_labels.record_key = pushed.record_key
                and pushed.cluster_key < cluster_labels.cluster_key
            returning cluster_labels.record_key, cluster_labels.cluster_key
        )
        select record_key, cluster_key from updated;
        get diagnostics changed = row_count;
        drop table pg_temp.cluster_frontier;
        alter table pg_temp.cluster_frontier_next rename to cluster_frontier;
        exit when changed = 0;
    end loop;
end $$;
{%- endmacro %}

{#- Label propagation over an undirected edge list, into the session temp table
    cluster_labels(record_key, cluster_key): every node ends with the smallest key of its
    connected component. Each pass moves labels one hop; it stops when a pass changes nothing,
    so the passes needed are the graph's diameter (small for identity graphs), not its size.
    Plain SQL inside a PL/pgSQL loop: no extension needed. -#}
{% macro connected_components(nodes_relation, node_column, edges_relation, left_column, right_column) -%}
drop table if exists pg_temp.cluster_labels;
create temporary table cluster_labels as
    select {{ node_column }} as record_key, {{ node_column }} as cluster_key
    from {{ nodes_relation }};
create unique index on cluster_labels (record_key);
drop table if exists pg_temp.cluster_edges;
create temporary table cluster_edges as
    select {{ left_column }} as from_key, {{ right_column }} as to_key from {{ edges_relation }}
    union all
    select {{ right_column }}, {{ left_column }} from {{ edges_relation }};
create index on cluster_edges (from_key);
analyze cluster_labels;
analyze cluster_edges;
do $$
declare
    changed bigint;
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
        where
            cluster_labels.record_key = smallest.from_key
            and smallest.cluster_key < cluster_labels.cluster_key;
        get diagnostics changed = row_count;
        exit when changed = 0;
    end loop;
end $$;
{%- endmacro %}

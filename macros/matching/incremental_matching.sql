{#- Incremental identity resolution. Each matched model keeps a watermark: the latest time it
    wrote (a `computed_at`-like column of its own rows). On an incremental run it re-computes
    only what changed upstream after that watermark, so a model that failed, or wrote nothing,
    catches up on the next run; re-computing something twice gives the same rows. -#}

{#- Whether the model being compiled can read the warehouse now: not at parse time, not under
    `--no-introspect` (can_introspect), and not inside dbt unit tests (`this` is a fixture
    there). -#}
{% macro _can_read_at_compile() -%}
    {{ return(can_introspect() and this is not string and model.resource_type != 'unit_test') }}
{%- endmacro %}

{#- A timestamptz `query` (one row, one column), read when the model is compiled and rendered
    as a literal: a model's batch steps (incremental_batch) and its select then use the same
    value, and the planner sees a constant it can estimate against an index. Where nothing can be read
    (_can_read_at_compile: `dbt compile --no-introspect`, unit tests) it stays a subquery, the
    same condition with an estimate the planner guesses. -#}
{% macro timestamp_read_at_compile(query) -%}
    {%- if _can_read_at_compile() -%}
        {%- set found = run_query('select (' ~ query ~ ')::text') -%}
        '{{ found.columns[0].values()[0] }}'::timestamptz
    {%- else -%}
        ({{ query }})
    {%- endif -%}
{%- endmacro %}

{#- The latest time this model wrote, or -infinity (first build, or empty table), read once
    when the model is compiled (timestamp_read_at_compile) and again, to the same value, when
    its materialisation (incremental_batch) runs the stage and delete steps: nothing writes the
    table in between, so the steps and the select use the same watermark. -#}
{% macro matching_watermark(column) -%}
    {%- if _can_read_at_compile() -%}
        {%- do _require_watermark_column(column) -%}
    {%- endif -%}
    {{ timestamp_read_at_compile(
        "select coalesce(max(" ~ column ~ "), '-infinity'::timestamptz) from " ~ this
    ) }}
{%- endmacro %}

{#- A where-clause condition on a staging model's rows: on an incremental run of
    int_identity_records_unioned, only the rows loaded after the newest load this model has
    seen from that source table; on a full build, every row (`true`). The newest load is read
    when the model is compiled (timestamp_read_at_compile), so the planner reads the few new
    rows by the loader's load-time index instead of estimating a third of the table. -#}
{% macro is_loaded_after_watermark(source_system, source_table, column='loaded_at') -%}
    {%- if is_incremental() -%}
        {%- set newest_load -%}
            select coalesce(max(record_loaded_at), '-infinity'::timestamptz)
            from {{ this }}
            where source_system = '{{ source_system }}' and source_table = '{{ source_table }}'
        {%- endset -%}
        {{ column }} > {{ timestamp_read_at_compile(newest_load) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- Stage `changed_cards_and_cookies` (incremental_batch) of int_identity_records_unioned
    (incremental runs): the payment cards and web
    cookies with a transaction or login loaded since the model last read that source, into the
    analysed temp tables pg_temp.changed_card_tokens and pg_temp.changed_web_cookies. With their
    row counts known, the model hashes the few (often none) instead of sorting every login and
    transaction to merge-join them against an estimate of hundreds of thousands. -#}
{% macro stage_changed_cards_and_cookies() -%}
    {%- if is_incremental() -%}
        drop table if exists pg_temp.changed_card_tokens;
        create temporary table changed_card_tokens as
            select distinct card_token_hash
            from {{ ref('stg_pos__transactions') }}
            where
                card_token_hash is not null
                and {{ is_loaded_after_watermark('pos', 'card_tokens') }};
        create unique index on pg_temp.changed_card_tokens (card_token_hash);
        analyze pg_temp.changed_card_tokens;
        drop table if exists pg_temp.changed_web_cookies;
        create temporary table changed_web_cookies as
            select distinct cookie_id
            from {{ ref('stg_web__events') }}
            where account_id is not null and {{ is_loaded_after_watermark('web', 'cookies') }};
        create unique index on pg_temp.changed_web_cookies (cookie_id);
        analyze pg_temp.changed_web_cookies
    {%- endif -%}
{%- endmacro %}

{#- The records whose links must be re-computed (int_identity_records_touched) after `column`'s
    latest value in this model (default config `watermark`, else computed_at); every record on
    a full build. -#}
{% macro touched_records(column=none) -%}
    {%- set column = column or config.get('watermark', 'computed_at') -%}
    select record_key
    from {{ ref('int_identity_records_touched') }}
    {%- if is_incremental() %}
        where touched_at > {{ matching_watermark(column) }}
    {%- endif %}
{%- endmacro %}

{#- Stage `touched_records` (incremental_batch) of the models that re-compute touched records
    (incremental runs): the temp table pg_temp.touched_records of the records touched
    (int_identity_records_touched) after this model last wrote (config `watermark`), indexed
    and analysed, so the model's joins can use the indexes of the big tables. -#}
{% macro stage_touched_records(column=none) -%}
    {%- if is_incremental() -%}
        drop table if exists pg_temp.touched_records;
        create temporary table touched_records as {{ touched_records(column) }};
        create unique index on pg_temp.touched_records (record_key);
        analyze pg_temp.touched_records
    {%- endif -%}
{%- endmacro %}

{#- Replaced rows `links_of_touched_records` (incremental_batch) of a link model, after stage
    touched_records: drop the links of the records about to be re-computed (a link that no
    longer holds has no new row to replace it). Two deletes, one per end, each an index
    join. -#}
{% macro delete_links_of_touched_records() -%}
    delete from {{ this }} as links
    using pg_temp.touched_records as touched
    where links.left_record_key = touched.record_key;
    delete from {{ this }} as links
    using pg_temp.touched_records as touched
    where links.right_record_key = touched.record_key
{%- endmacro %}

{#- The links of `relation` with an end in pg_temp.touched_records (incremental runs), one index
    join per end; a link with both ends touched comes once. `condition`: only the links for
    which it holds (a condition on `links`). -#}
{% macro links_of_touched_records(relation, columns, condition='true') -%}
    select {% for column in columns %}links.{{ column }}{{ ", " if not loop.last }}{% endfor %}
    from pg_temp.touched_records as touched
    inner join {{ relation }} as links on touched.record_key = links.left_record_key
    where {{ condition }}
    union all
    select {% for column in columns %}links.{{ column }}{{ ", " if not loop.last }}{% endfor %}
    from pg_temp.touched_records as touched
    inner join {{ relation }} as links on touched.record_key = links.right_record_key
    left join pg_temp.touched_records as left_touched
        on links.left_record_key = left_touched.record_key
    where left_touched.record_key is null and {{ condition }}
{%- endmacro %}

{#- The identifier values whose holders changed after this model last wrote (`column`): rows of
    int_identifiers_unpivoted written since, current or tombstones. -#}
{% macro identifier_values_changed(column=none) -%}
    {%- set column = column or config.get('watermark', 'assessed_at') -%}
    select distinct
        identifier_type,
        identifier_value
    from {{ ref('int_identifiers_unpivoted') }}
    where changed_at > {{ matching_watermark(column) }}
{%- endmacro %}

{#- Stage `changed_identifier_values` (incremental_batch) of int_identifiers_assessed
    (incremental runs): the identifier values whose
    holders changed (identifier_values_changed) into the temp table
    pg_temp.changed_identifier_values, indexed and analysed. A day's increment changes tens of
    thousands of values among millions: with that row count known, the planner reads their
    holders through the index of int_identifiers_unpivoted instead of hashing all of it. -#}
{% macro stage_changed_identifier_values() -%}
    {%- if is_incremental() -%}
        drop table if exists pg_temp.changed_identifier_values;
        create temporary table changed_identifier_values as {{ identifier_values_changed() }};
        create unique index on pg_temp.changed_identifier_values
        (identifier_type, identifier_value);
        analyze pg_temp.changed_identifier_values
    {%- endif -%}
{%- endmacro %}

{#- Replaced rows `assessments_of_vanished_values` (incremental_batch) of
    int_identifiers_assessed: drop the judgements of values whose holders
    changed (pg_temp.changed_identifier_values) and that fewer than two records hold now (the
    others are replaced by delete+insert, which still sees their previous judgement when it
    computes usability_flipped_at). -#}
{% macro delete_assessments_of_vanished_values() -%}
    delete from {{ this }} as assessed
    using pg_temp.changed_identifier_values as changed
    where
        assessed.identifier_type = changed.identifier_type
        and assessed.identifier_value = changed.identifier_value
        and (
            select count(*)
            from {{ ref('int_identifiers_unpivoted') }} as holders
            where
                holders.identifier_type = assessed.identifier_type
                and holders.identifier_value = assessed.identifier_value
                and holders.is_current
        ) < 2
{%- endmacro %}

{#- Stage `cluster_scope` (incremental_batch) of int_identity_records_clustered on an
    incremental run, after stage touched_records: the temp table cluster_scope of every record
    whose cluster must be
    computed again: the touched records, their link neighbours, and every record of the
    clusters any of those belonged to (index scans only), with the row each already has in the
    model (previous_*: null for a new record), so that the model writes only what changed. -#}
{% macro stage_cluster_scope() -%}
    {%- if is_incremental() -%}
        drop table if exists pg_temp.cluster_seeds;
        create temporary table cluster_seeds as
            select record_key from pg_temp.touched_records
            union
            select links.right_record_key
            from pg_temp.touched_records as touched
            inner join {{ ref('int_identity_links_unioned') }} as links
                on touched.record_key = links.left_record_key
            union
            select links.left_record_key
            from pg_temp.touched_records as touched
            inner join {{ ref('int_identity_links_unioned') }} as links
                on touched.record_key = links.right_record_key;
        analyze pg_temp.cluster_seeds;
        drop table if exists pg_temp.cluster_scope;
        create temporary table cluster_scope as
            -- = any(array): index scans on record_key, then on cluster_key (as joins, the
            -- planner scanned all four million rows twice for a hundred thousand: 2.4 s of 2.8)
            with affected_clusters as (
                select distinct previous.cluster_key
                from {{ this }} as previous
                where
                    previous.record_key
                    = any(array(select seeds.record_key from pg_temp.cluster_seeds as seeds))
            ),
            previous_rows as (
                select
                    previous.record_key,
                    previous.cluster_key as previous_cluster_key,
                    previous.birth_date as previous_birth_date,
                    previous.record_updated_at as previous_record_updated_at
                from {{ this }} as previous
                where
                    previous.cluster_key
                    = any(array(select affected.cluster_key from affected_clusters as affected))
            )
            select * from previous_rows
            union all
            -- new records (every seed the model holds is in a cluster read above)
            select
                seeds.record_key,
                null::text,
                null::date,
                null::timestamptz
            from pg_temp.cluster_seeds as seeds
            where not exists (
                select 1 from previous_rows where previous_rows.record_key = seeds.record_key
            );
        create unique index on pg_temp.cluster_scope (record_key);
        analyze pg_temp.cluster_scope
    {%- endif -%}
{%- endmacro %}

{#- Stage `cluster_labels` (incremental_batch) of int_identity_records_clustered, on every
    build: the connected components (connected_components) of the links in scope
    (cluster_scope_edges) into pg_temp.cluster_labels, which the model's select reads. -#}
{% macro stage_cluster_labels() -%}
    {{ connected_components(cluster_scope_edges()) }}
{%- endmacro %}

{#- The edges connected_components() reads: every link on a full build, the links inside
    cluster_scope on an incremental run (a link with one end in scope has both there). -#}
{% macro cluster_scope_edges() -%}
    select
        links.left_record_key as left_key,
        links.right_record_key as right_key
    from {{ ref('int_identity_links_unioned') }} as links
    {%- if is_incremental() %}
        -- one index scan (joined, the planner scanned all the links: 1.3 s against 0.55)
        where
            links.left_record_key
            = any(array(select scope.record_key from pg_temp.cluster_scope as scope))
    {%- endif %}
{%- endmacro %}

{#- The customers whose golden record must be computed again after `column`'s latest value in
    this model: every customer of a cluster re-written since (merges, splits, changed links),
    every id retired or split from since, and the customers of records whose attributes or
    consents (shop marketing preferences, email-provider contacts) changed since. -#}
{% macro customers_changed_since(column='computed_at') -%}
    {%- set watermark = matching_watermark(column) -%}
    select assignments.customer_id
    from {{ ref('int_customer_ids_assigned') }} as assignments
    where assignments.record_key in (
        select record_key
        from {{ ref('int_identity_records_clustered') }}
        where clustered_at > {{ watermark }}
        union all
        select record_key
        from {{ ref('int_identity_records_unioned') }}
        where computed_at > {{ watermark }}
        union all
        select 'shop:accounts:' || account_id
        from {{ ref('stg_shop__marketing_preferences') }}
        where loaded_at > {{ watermark }}
        union all
        select 'esp:contacts:' || contact_id
        from {{ ref('stg_esp__contacts') }}
        where loaded_at > {{ watermark }}
    )
    union
    select previous_customer_id
    from {{ ref('int_customer_ids_assigned') }}
    where assigned_at > {{ watermark }} and previous_customer_id is not null
{%- endmacro %}

{#- Stage `changed_customers` (incremental_batch) of a per-customer incremental model
    (incremental runs): the customers about to be computed again (customers_changed_since) into
    the analysed temp table pg_temp.changed_customers (the model reads it: a good row estimate
    keeps the planner on index joins). -#}
{% macro stage_changed_customers() -%}
    {%- if is_incremental() -%}
        {{ stage_customers(
            'changed_customers', customers_changed_since(config.get('watermark', 'computed_at'))
        ) }}
    {%- endif -%}
{%- endmacro %}

{#- Replaced rows `changed_customers` (incremental_batch): the rows of the staged customers go
    (a retired id has no new row to replace it). -#}
{% macro delete_changed_customers() -%}
    {{ delete_staged_customers('changed_customers') }}
{%- endmacro %}

{#- The rows of this model of the customers staged in pg_temp.<temp_table>, deleted. -#}
{% macro delete_staged_customers(temp_table) -%}
    delete from {{ this }} as customers
    using pg_temp.{{ temp_table }} as changed
    where customers.customer_id = changed.customer_id
{%- endmacro %}

{#- The distinct non-null customer_id of `query` into the analysed temp table
    pg_temp.<temp_table> (unique index: the model joins it). -#}
{% macro stage_customers(temp_table, query) -%}
    drop table if exists pg_temp.{{ temp_table }};
    create temporary table {{ temp_table }} as
        select distinct customer_id from ({{ query }}) as changed
        where customer_id is not null;
    create unique index on pg_temp.{{ temp_table }} (customer_id);
    analyze pg_temp.{{ temp_table }}
{%- endmacro %}

{#- The cluster_keys int_identity_records_clustered wrote records into after `column`'s latest
    value in this model, and the cluster_keys those records came from (a cluster that lost
    records, or no longer exists): the clusters whose members changed. -#}
{% macro clusters_written_since(column) -%}
    {%- set watermark = matching_watermark(column) -%}
    select cluster_key
    from {{ ref('int_identity_records_clustered') }}
    where clustered_at > {{ watermark }}
    union
    select previous_cluster_key
    from {{ ref('int_identity_records_clustered') }}
    where clustered_at > {{ watermark }} and previous_cluster_key is not null
{%- endmacro %}

{#- Stage `records_to_map` (incremental_batch) of identity_map (incremental runs): every record
    whose row may have changed since
    the model last wrote, into the analysed temp table pg_temp.records_to_map. A row holds the
    record's customer_id and its strongest link, so:
    - records whose customer_id changed (int_customer_ids_assigned writes only those) and
      records the clustering wrote (new ones among them);
    - both ends of every link computed since (a new or re-computed link may be stronger);
    - for a link that went: it joined a touched record to a record of the touched record's
      cluster as it was, so every record of the clusters that touched records already known
      before were in and are in (cluster_key, and previous_cluster_key if the clustering wrote
      them since). A new touched record had no links to lose.
    Whole clusters only where a link may have gone: at a million persons a day's 1% new
    records were 128,000 records to map as whole clusters, 80,000 this way. -#}
{% macro stage_records_to_map() -%}
    {%- if is_incremental() -%}
        {%- set watermark = matching_watermark('computed_at') -%}
        drop table if exists pg_temp.clusters_to_map;
        create temporary table clusters_to_map as
            with known_touched as (
                select
                    clustered.cluster_key,
                    clustered.previous_cluster_key,
                    clustered.clustered_at > {{ watermark }} as is_written
                from {{ ref('int_identity_records_touched') }} as touched
                inner join {{ ref('int_identity_records_clustered') }} as clustered
                    on touched.record_key = clustered.record_key
                where
                    touched.touched_at > {{ watermark }}
                    and not (
                        clustered.clustered_at > {{ watermark }}
                        and clustered.previous_cluster_key is null
                    )
            )
            select cluster_key from known_touched
            union
            select previous_cluster_key from known_touched
            where is_written and previous_cluster_key is not null;
        analyze pg_temp.clusters_to_map;
        drop table if exists pg_temp.records_to_map;
        create temporary table records_to_map as
            with record_keys as (
                select record_key
                from {{ ref('int_customer_ids_assigned') }}
                where assigned_at > {{ watermark }}
                union
                select record_key
                from {{ ref('int_identity_records_clustered') }}
                where clustered_at > {{ watermark }}
                union
                select left_record_key
                from {{ ref('int_identity_links_unioned') }}
                where computed_at > {{ watermark }}
                union
                select right_record_key
                from {{ ref('int_identity_links_unioned') }}
                where computed_at > {{ watermark }}
                union
                select clustered.record_key
                from pg_temp.clusters_to_map as clusters
                inner join {{ ref('int_identity_records_clustered') }} as clustered
                    on clusters.cluster_key = clustered.cluster_key
            )
            -- record_key = <source_system>:<source_table>:<source_record_id>, and neither of the
            -- first two holds a colon: split, not looked up (100,000 index reads)
            select
                record_key,
                split_part(record_key, ':', 1) as source_system,
                split_part(record_key, ':', 2) as source_table,
                substr(
                    record_key,
                    length(split_part(record_key, ':', 1))
                    + length(split_part(record_key, ':', 2)) + 3
                ) as source_record_id
            from record_keys;
        create unique index on pg_temp.records_to_map (record_key);
        analyze pg_temp.records_to_map
    {%- endif -%}
{%- endmacro %}

{#- Replaced rows `stale_reviews` (incremental_batch) of int_identity_review (incremental runs):
    drop the reviews of identifiers judged
    again and of clusters whose members changed since the last review (they are reviewed
    afresh; a cluster that no longer exists is not reviewed again). -#}
{% macro delete_stale_reviews() -%}
    delete from {{ this }} as review
    using {{ ref('int_identifiers_assessed') }} as assessed
    where
        assessed.assessed_at > {{ matching_watermark('reviewed_at') }}
        and review.review_subject
        = assessed.identifier_type || '=' || assessed.identifier_value;
    delete from {{ this }} as review
    where
        review.review_subject like 'cluster=%'
        and substr(review.review_subject, 9) in (
            {{ clusters_written_since('reviewed_at') }}
        );
    -- probable matches: only those still weighed as they were stay (the others are weighed
    -- again since, and come back if they are still in the band)
    delete from {{ this }} as review
    where
        review.review_reason = 'probable_match'
        and not exists (
            select 1
            from {{ ref('int_identity_links_fuzzy') }} as links
            where
                links.left_record_key = split_part(substr(review.review_subject, 6), '|', 1)
                and links.right_record_key = split_part(substr(review.review_subject, 6), '|', 2)
                and not links.is_link
                and links.computed_at <= {{ matching_watermark('reviewed_at') }}
        )
{%- endmacro %}

{#- Stage `full_build_pairs` (incremental_batch) of int_identity_pairs_compared, on a full build
    only (stages_full_build): every pair of records sharing a block key
    (full_build_candidate_pairs) and every record's comparison columns
    (comparison_record_columns), as two unlogged tables of the model's schema
    (full_build_table), analysed. The model's select joins them. PostgreSQL's parallel workers
    can read a table, not a CTE or a temp table: so the comparisons of every pair run on every
    core (200,000 records, 677,000 pairs: 12-15 s against 17-20 s). The model's post-hook
    drops them (drop_full_build_pairs); a failed build rolls them back with its transaction. -#}
{% macro stage_full_build_pairs() -%}
    {%- if stages_full_build() -%}
        {{ drop_full_build_pairs() }};
        create unlogged table {{ full_build_table('candidate_pairs') }} as
        {{ full_build_candidate_pairs() }};
        analyze {{ full_build_table('candidate_pairs') }};
        create unlogged table {{ full_build_table('comparison_records') }} as
        select
            {{ comparison_record_columns() }}
        from {{ ref('int_identity_records_unioned') }};
        analyze {{ full_build_table('comparison_records') }}
    {%- endif -%}
{%- endmacro %}

{#- Whether this build of a model stages its inputs as tables (stage full_build_pairs): a full
    build of the model itself, not an incremental run nor a unit test (whose inputs are
    fixtures, read by the model's select). -#}
{% macro stages_full_build() -%}
    {{ return(not is_incremental() and model.resource_type == 'model') }}
{%- endmacro %}

{#- Every pair of records that share a current block key, with the rules that made it (the
    table joined to itself, not a CTE of its current keys: the planner then knows its size and
    hashes it in parallel where it sorted the CTE). -#}
{% macro full_build_candidate_pairs() -%}
    select
        left_keys.record_key as left_record_key,
        right_keys.record_key as right_record_key,
        array_agg(
            distinct split_part(left_keys.block_key, ':', 1)
            order by split_part(left_keys.block_key, ':', 1)
        ) as blocking_rules
    from {{ ref('int_identity_block_keys') }} as left_keys
    inner join {{ ref('int_identity_block_keys') }} as right_keys
        on
            left_keys.block_key = right_keys.block_key
            and left_keys.record_key < right_keys.record_key
    where left_keys.is_current and right_keys.is_current
    group by left_keys.record_key, right_keys.record_key
{%- endmacro %}

{#- The post-hook of stage full_build_pairs: its tables dropped. -#}
{% macro drop_full_build_pairs() -%}
    {%- if stages_full_build() -%}
        drop table if exists {{ full_build_table('candidate_pairs') }};
        drop table if exists {{ full_build_table('comparison_records') }}
    {%- endif -%}
{%- endmacro %}

{#- The relation `<model>__<name>` beside the model: a table a full build stages. -#}
{% macro full_build_table(name) -%}
    {{ this.incorporate(path={'identifier': this.identifier ~ '__' ~ name}) }}
{%- endmacro %}

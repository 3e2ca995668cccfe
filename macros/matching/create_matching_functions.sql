{#- Functions the matched layer uses, in plain PL/pgSQL (built into every PostgreSQL; no
    contrib extension such as fuzzystrmatch or pg_trgm is needed). Installed by on-run-start
    into the target schema. -#}
{% macro create_matching_functions() -%}
create schema if not exists {{ target.schema }};

-- optimal string alignment distance: insertions, deletions, substitutions and transpositions
-- of adjacent characters (the commonest typing slip, "stephne" for "stephen") each cost 1
create or replace function {{ target.schema }}.edit_distance(a text, b text)
returns integer
language plpgsql
immutable
parallel safe
as $$
declare
    la integer := length(a);
    lb integer := length(b);
    two_back integer[];
    previous integer[];
    current integer[];
    i integer;
    j integer;
    cost integer;
    best integer;
begin
    if a is null or b is null then
        return null;
    end if;
    if la = 0 then return lb; end if;
    if lb = 0 then return la; end if;
    previous := array(select generate_series(0, lb));
    two_back := previous;
    for i in 1..la loop
        current := array[i];
        for j in 1..lb loop
            cost := case when substr(a, i, 1) = substr(b, j, 1) then 0 else 1 end;
            best := least(current[j] + 1, previous[j + 1] + 1, previous[j] + cost);
            if i > 1 and j > 1
                and substr(a, i, 1) = substr(b, j - 1, 1)
                and substr(a, i - 1, 1) = substr(b, j, 1) then
                best := least(best, two_back[j - 1] + 1);
            end if;
            current := current || best;
        end loop;
        two_back := previous;
        previous := current;
    end loop;
    return previous[lb + 1];
end;
$$;

create or replace function {{ target.schema }}.name_similarity(a text, b text)
returns numeric
language sql
immutable
parallel safe
as $$
    -- spaces do not count: "o suilleabhain" and "osuilleabhain" are the same name
    select case
        when a is null or b is null or a = '' or b = '' then null
        when replace(a, ' ', '') = replace(b, ' ', '') then 1.0
        else round(
            1.0 - {{ target.schema }}.edit_distance(replace(a, ' ', ''), replace(b, ' ', ''))::numeric
                / greatest(length(replace(a, ' ', '')), length(replace(b, ' ', ''))),
            4
        )
    end
$$;

-- one keystroke apart (a dropped, doubled, swapped or wrong letter) in a name of at least
-- three letters, first letter kept: "jsoe" / "jose", "wod" / "wood". The similarity ratio
-- alone rejects these in short names (0.75 for four letters); the rule is only used where a
-- strong identifier (email, phone, card) already joins the two records
create or replace function {{ target.schema }}.is_one_slip_apart(a text, b text)
returns boolean
language sql
immutable
parallel safe
as $$
    select
        a is not null and b is not null
        and greatest(length(a), length(b)) >= 3
        and left(a, 1) = left(b, 1)
        and abs(length(a) - length(b)) <= 1
        and {{ target.schema }}.edit_distance(a, b) <= 1
$$;

-- first names: the best of both readings of an ambiguous nickname on either side
create or replace function {{ target.schema }}.first_name_similarity(
    a text, a_alternative text, b text, b_alternative text
)
returns numeric
language sql
immutable
parallel safe
as $$
    select greatest(
        {{ target.schema }}.name_similarity(a, b),
        {{ target.schema }}.name_similarity(a_alternative, b),
        {{ target.schema }}.name_similarity(a, b_alternative),
        {{ target.schema }}.name_similarity(a_alternative, b_alternative)
    )
$$;
{%- endmacro %}

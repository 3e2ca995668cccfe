{#- Functions the matched layer uses, in plain PL/pgSQL (built into every PostgreSQL; no
    contrib extension such as fuzzystrmatch or pg_trgm is needed). Installed by on-run-start
    into the target schema. -#}
{% macro create_matching_functions() -%}
create schema if not exists {{ target.schema }};

-- optimal string alignment distance: insertions, deletions, substitutions and transpositions
-- of adjacent characters (the commonest typing slip, "stephne" for "stephen") each cost 1.
-- edit_distance_within(a, b, k) is exact up to k and returns k + 1 beyond (the matching only
-- asks "within one or two slips?"). For ASCII text of up to 62 characters (normalised names,
-- streets, towns, postcodes) it is Hyyro's bit-parallel algorithm (2003, as in RapidFuzz's
-- OSA distance): the column of the table is two bigints, one step per character of b, about
-- four microseconds for two seven-letter names, where the banded table took ten; other text
-- goes to edit_distance_within_banded
create or replace function {{ target.schema }}.edit_distance_within(a text, b text, k integer)
returns integer
language plpgsql
immutable
parallel safe
as $$
declare
    la integer := length(a);
    lb integer := length(b);
    -- positions (bits) of each ASCII character in a
    peq bigint[];
    code integer;
    -- vertical positive and negative differences of the current column, D0 the diagonal
    -- zero differences, pm and pm_old the positions in a of this and the previous character
    vp bigint;
    vn bigint := 0;
    d0 bigint := 0;
    hp bigint;
    hn bigint;
    pm bigint;
    pm_old bigint := 0;
    full_mask bigint;
    top bigint;
    distance integer;
begin
    if a is null or b is null then
        return null;
    end if;
    if a = b then return 0; end if;
    if abs(la - lb) > k then return k + 1; end if;
    if la = 0 or lb = 0 then return least(greatest(la, lb), k + 1); end if;
    if la > 62 or octet_length(a) <> la or octet_length(b) <> lb then
        return {{ target.schema }}.edit_distance_within_banded(a, b, k);
    end if;
    peq := array_fill(0::bigint, array[128], array[0]);
    for i in 1..la loop
        code := ascii(substr(a, i, 1));
        peq[code] := peq[code] | (1::bigint << (i - 1));
    end loop;
    full_mask := (1::bigint << la) - 1;
    top := 1::bigint << (la - 1);
    vp := full_mask;
    distance := la;
    for j in 1..lb loop
        pm := peq[ascii(substr(b, j, 1))];
        -- the transposition term uses the previous column's d0
        d0 := ((((pm & vp) + vp) # vp) | pm | vn | ((((~d0) & pm) << 1) & pm_old)) & full_mask;
        hp := vn | (~(d0 | vp) & full_mask);
        hn := d0 & vp;
        if (hp & top) <> 0 then
            distance := distance + 1;
        elsif (hn & top) <> 0 then
            distance := distance - 1;
        end if;
        -- each character of b still to come lowers the distance by one at most
        if distance - (lb - j) > k then return k + 1; end if;
        hp := ((hp << 1) | 1) & full_mask;
        vp := ((hn << 1) & full_mask) | (~(d0 | hp) & full_mask);
        vn := hp & d0;
        pm_old := pm;
    end loop;
    return least(distance, k + 1);
end;
$$;

-- edit_distance_within for any text: the dynamic programme over the band of cells within k of
-- the diagonal, stopping as soon as a whole row exceeds k (about 10 microseconds for two
-- seven-letter names and k = 2)
create or replace function {{ target.schema }}.edit_distance_within_banded(a text, b text, k integer)
returns integer
language plpgsql
immutable
parallel safe
as $$
declare
    la integer := length(a);
    lb integer := length(b);
    ca text[];
    cb text[];
    two_back integer[];
    previous integer[];
    current integer[];
    i integer;
    j integer;
    best integer;
    row_min integer;
    beyond integer := k + 1;
begin
    if a is null or b is null then
        return null;
    end if;
    if a = b then return 0; end if;
    if abs(la - lb) > k then return beyond; end if;
    if la = 0 or lb = 0 then return least(greatest(la, lb), beyond); end if;
    ca := string_to_array(a, null);
    cb := string_to_array(b, null);
    previous := array_fill(beyond, array[lb + 1]);
    for j in 0..least(lb, k) loop
        previous[j + 1] := j;
    end loop;
    two_back := array_fill(beyond, array[lb + 1]);
    for i in 1..la loop
        current := array_fill(beyond, array[lb + 1]);
        if i <= k then current[1] := i; end if;
        row_min := case when i <= k then i else beyond end;
        for j in greatest(1, i - k)..least(lb, i + k) loop
            if ca[i] = cb[j] then
                best := previous[j];
            else
                best := least(current[j], previous[j + 1], previous[j]) + 1;
                if i > 1 and j > 1 and ca[i] = cb[j - 1] and ca[i - 1] = cb[j] then
                    best := least(best, two_back[j - 1] + 1);
                end if;
            end if;
            best := least(best, beyond);
            current[j + 1] := best;
            row_min := least(row_min, best);
        end loop;
        if row_min > k then return beyond; end if;
        two_back := previous;
        previous := current;
    end loop;
    return least(previous[lb + 1], beyond);
end;
$$;

-- the characters of a text as a set of bits (character code modulo 63, so the sign bit stays
-- clear; null for null): two
-- texts within k slips differ in at most 2k characters of their sets, so where the masks'
-- symmetric difference has more bits the edit distance need not be computed (collisions only
-- ever hide a difference, so this never rejects two texts that are within k)
create or replace function {{ target.schema }}.character_mask(t text)
returns bigint
language plpgsql
immutable
parallel safe
as $$
declare
    mask bigint := 0;
begin
    if t is null then
        return null;
    end if;
    for i in 1..length(t) loop
        mask := mask | (1::bigint << (ascii(substr(t, i, 1)) % 63));
    end loop;
    return mask;
end;
$$;

create or replace function {{ target.schema }}.edit_distance(a text, b text)
returns integer
language sql
immutable
parallel safe
as $$
    select {{ target.schema }}.edit_distance_within(a, b, greatest(length(a), length(b)))
$$;

-- 1 - edit distance / length of the longer name, spaces ignored ("o suilleabhain" and
-- "osuilleabhain" are the same name). Exact at or above `at_least` and for names one edit apart;
-- below that it is an upper bound that is still below `at_least` (the rules only compare it with
-- their threshold), which lets the edit distance stop early
drop function if exists {{ target.schema }}.name_similarity(text, text);
create or replace function {{ target.schema }}.name_similarity(a text, b text, at_least numeric default 0)
returns numeric
language sql
immutable
parallel safe
as $$
    select case
        when a is null or b is null or a = '' or b = '' then null
        when replace(a, ' ', '') = replace(b, ' ', '') then 1.0
        else round(
            1.0 - {{ target.schema }}.edit_distance_within(
                replace(a, ' ', ''),
                replace(b, ' ', ''),
                greatest(
                    1,
                    floor(
                        (1 - at_least)
                        * greatest(length(replace(a, ' ', '')), length(replace(b, ' ', '')))
                    )::integer
                )
            )::numeric
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
        and {{ target.schema }}.edit_distance_within(a, b, 1) <= 1
$$;

-- first names: the best of both readings of an ambiguous nickname on either side (a reading
-- equal to the name itself is not compared twice)
drop function if exists {{ target.schema }}.first_name_similarity(text, text, text, text);
create or replace function {{ target.schema }}.first_name_similarity(
    a text, a_alternative text, b text, b_alternative text, at_least numeric default 0
)
returns numeric
language sql
immutable
parallel safe
as $$
    select greatest(
        {{ target.schema }}.name_similarity(a, b, at_least),
        case
            when a_alternative is distinct from a
                then {{ target.schema }}.name_similarity(a_alternative, b, at_least)
        end,
        case
            when b_alternative is distinct from b
                then {{ target.schema }}.name_similarity(a, b_alternative, at_least)
        end,
        case
            when a_alternative is distinct from a and b_alternative is distinct from b
                then {{ target.schema }}.name_similarity(a_alternative, b_alternative, at_least)
        end
    )
$$;
{%- endmacro %}

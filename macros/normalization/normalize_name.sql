{#- Name for matching: accents folded (é -> e, ß -> ss), lower case, apostrophes and dots
    removed, hyphens and other punctuation become spaces, whitespace collapsed; empty -> null. -#}
{% macro fold_accents(column) -%}
    translate(
        replace(replace(replace(lower({{ column }}), 'ß', 'ss'), 'æ', 'ae'), 'œ', 'oe'),
        'àáâãäåāăąçćčďèéêëēėęěğìíîïīįıłñńňòóôõöøōőŕřśšşťùúûüūůűųýÿźżž',
        'aaaaaaaaacccdeeeeeeeegiiiiiiilnnnoooooooorrsssstuuuuuuuuyyzzz'
    )
{%- endmacro %}

{#- `normalized`, a macro of one lower-cased text expression, applied to `column` lowered
    where it is all ASCII (as many bytes as characters: nothing to fold) and to it with its
    accents folded elsewhere: translate() with the multibyte map costs six times lower().
    The case is outermost, not inside `normalized`, so the nesting stays shallow: sqlfluff's
    parser fails beyond about 30 nested calls. -#}
{% macro ascii_or_folded(column, normalized) -%}
    case
        when octet_length({{ column }}) = length({{ column }})
            then {{ normalized('lower(' ~ column ~ ')') }}
        else {{ normalized(fold_accents(column)) }}
    end
{%- endmacro %}

{% macro normalize_name(column) -%}
    {{ ascii_or_folded(column, name_of_lowered) }}
{%- endmacro %}

{#- normalize_name of a lower-cased, accent-free text expression. -#}
{% macro name_of_lowered(lowered) -%}
    nullif(
        btrim(regexp_replace(regexp_replace(
            {{ lowered }}, '[''’`.]', '', 'g'
        ), '[^a-z0-9]+', ' ', 'g')),
        ''
    )
{%- endmacro %}

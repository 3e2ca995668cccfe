{#- Name for matching: accents folded (é -> e, ß -> ss), lower case, apostrophes and dots
    removed, hyphens and other punctuation become spaces, whitespace collapsed; empty -> null. -#}
{% macro fold_accents(column) -%}
    case
        -- all ASCII (as many bytes as characters): nothing to fold, and translate() with its
        -- multibyte map costs six times lower() alone
        when octet_length({{ column }}) = length({{ column }}) then lower({{ column }})
        else translate(
            replace(replace(replace(lower({{ column }}), 'ß', 'ss'), 'æ', 'ae'), 'œ', 'oe'),
            'àáâãäåāăąçćčďèéêëēėęěğìíîïīįıłñńňòóôõöøōőŕřśšşťùúûüūůűųýÿźżž',
            'aaaaaaaaacccdeeeeeeeegiiiiiiilnnnoooooooorrsssstuuuuuuuuyyzzz'
        )
    end
{%- endmacro %}

{% macro normalize_name(column) -%}
    nullif(
        btrim(regexp_replace(regexp_replace(
            {{ fold_accents(column) }}, '[''’`.]', '', 'g'
        ), '[^a-z0-9]+', ' ', 'g')),
        ''
    )
{%- endmacro %}

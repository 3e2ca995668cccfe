{#- Name for matching: accents folded (é -> e, ß -> ss), lower case, apostrophes and dots
    removed, hyphens and other punctuation become spaces, whitespace collapsed; empty -> null. -#}
{% macro fold_accents(column) -%}
    translate(
        replace(replace(replace(lower({{ column }}), 'ß', 'ss'), 'æ', 'ae'), 'œ', 'oe'),
        'àáâãäåāăąçćčďèéêëēėęěğìíîïīįıłñńňòóôõöøōőŕřśšşťùúûüūůűųýÿźżž',
        'aaaaaaaaacccdeeeeeeeegiiiiiiilnnnoooooooorrsssstuuuuuuuuyyzzz'
    )
{%- endmacro %}

{% macro normalize_name(column) -%}
    nullif(
        btrim(regexp_replace(regexp_replace(
            {{ fold_accents(column) }}, '[''’`.]', '', 'g'
        ), '[^a-z0-9]+', ' ', 'g')),
        ''
    )
{%- endmacro %}

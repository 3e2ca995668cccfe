{#- Normalised email: trimmed, lower case; for providers whose rule is that dots in the local
    part are ignored (gmail/googlemail) the dots go; "+tags" go for providers with
    sub-addressing; googlemail.com becomes gmail.com. Anything that is not shaped like an
    email becomes null, and so does one over 254 characters (RFC 5321's limit): no address is
    longer, and a value that long must never reach an index (btree entries are limited to
    about 2,700 bytes: a 6,012-character "email" failed int_identifiers_unpivoted). -#}
{% macro normalize_email(column) -%}
    {{ return(adapter.dispatch('normalize_email', 'customer_intelligence')(column)) }}
{%- endmacro %}

{% macro default__normalize_email(column) -%}
    case
        when length(btrim({{ column }})) <= 254
            and lower(btrim({{ column }})) ~ '^[^@\s]+@[^@\s]+\.[a-z]{2,}$'
            then
                (
                    case
                        when split_part(lower(btrim({{ column }})), '@', 2) in ({{ "'" ~ var('email_dot_insensitive_domains') | join("', '") ~ "'" }})
                            then replace(
                                split_part(split_part(lower(btrim({{ column }})), '@', 1), '+', 1), '.', ''
                            )
                        when split_part(lower(btrim({{ column }})), '@', 2) in ({{ "'" ~ var('email_plus_tag_domains') | join("', '") ~ "'" }})
                            then split_part(split_part(lower(btrim({{ column }})), '@', 1), '+', 1)
                        else split_part(lower(btrim({{ column }})), '@', 1)
                    end
                )
                || '@'
                || case split_part(lower(btrim({{ column }})), '@', 2)
                    when 'googlemail.com' then 'gmail.com'
                    else split_part(lower(btrim({{ column }})), '@', 2)
                end
    end
{%- endmacro %}

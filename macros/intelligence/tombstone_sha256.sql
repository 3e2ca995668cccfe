{#- The erasure tombstone of an identifier: SHA-256 of '<identifier_type>:<value>' as hex, the
    same digest ciw/erasure.py writes for `ciw forget` (docs/erasure.md). -#}
{% macro tombstone_sha256(identifier_type, column) -%}
    encode(sha256(convert_to('{{ identifier_type }}:' || {{ column }}, 'UTF8')), 'hex')
{%- endmacro %}

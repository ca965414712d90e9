{#- A measure (amount, quantity) is never below zero; NULLs are not_null's job. -#}
{% test not_negative(model, column_name) %}

select {{ column_name }} as negative_value
from {{ model }}
where {{ column_name }} < 0

{% endtest %}

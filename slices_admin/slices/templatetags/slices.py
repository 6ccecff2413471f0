"""The slice pages' template filters: the display helpers of `slices.formatting`, registered under their names, and
the lookups a template cannot write itself."""

from django import template

from .. import formatting

register = template.Library()

for helper in (
    formatting.short_id,
    formatting.status_class,
    formatting.iso,
    formatting.duration_ms,
    formatting.isolate,
    formatting.key_path,
    formatting.json_pretty,
    formatting.scale,
    formatting.percent,
):
    register.filter(helper)


@register.filter
def get(mapping, key):
    """`request.GET|get:name` for a parameter whose name is in a variable."""
    return mapping.get(key, "")


@register.filter
def get_suffixed(mapping, name):
    """The `<name>_after` and `<name>_before` values of a time range filter."""
    return [mapping.get(f"{name}_after", ""), mapping.get(f"{name}_before", "")]


@register.filter
def as_list(first, second):
    return [item for item in (first, second) if item is not None]

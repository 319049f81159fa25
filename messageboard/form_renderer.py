"""Django's form renderer, with the plainest widgets and error lists written out in Python.

Each of these goes through two or three small templates (input.html includes attrs.html,
which loops over the attributes), a large share of the edit page's work. The
functions below produce the same HTML as those templates (tests/integration/
test_form_renderer.py compares them); anything else is rendered by Django as usual.
"""

from django.forms.renderers import DjangoTemplates
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeData, mark_safe

WIDGETS = "django/forms/widgets/"


def _stringformat(value) -> str:
    # {{ value|stringformat:'s' }}: the filter keeps safe strings safe; others are escaped.
    return str(value) if isinstance(value, SafeData) else escape(value)


def _attrs(attrs: dict) -> str:
    # attrs.html: False leaves the attribute out, True writes its name alone.
    return "".join(
        f" {conditional_escape(name)}" if value is True else f' {conditional_escape(name)}="{_stringformat(value)}"'
        for name, value in attrs.items()
        if value is not False
    )


def _input(context: dict) -> str:
    widget = context["widget"]
    value = widget["value"]
    shown = "" if value is None else f' value="{_stringformat(value)}"'
    return (
        f'<input type="{conditional_escape(widget["type"])}" name="{conditional_escape(widget["name"])}"'
        f"{shown}{_attrs(widget['attrs'])}>"
    )


def _textarea(context: dict) -> str:
    widget = context["widget"]
    value = conditional_escape(widget["value"]) if widget["value"] else ""
    return f'<textarea name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>\n{value}</textarea>'


def _error_list(context: dict) -> str:
    errors = context["errors"]
    if not errors:
        return ""
    field_id = getattr(errors, "field_id", None)
    identity = f' id="{conditional_escape(field_id)}_error"' if field_id else ""
    items = "".join(f"<li>{conditional_escape(error)}</li>" for error in errors)
    return f'<ul class="{conditional_escape(context["error_class"])}"{identity}>{items}</ul>'


FAST = {
    **{f"{WIDGETS}{kind}.html": _input for kind in ("input", "text", "hidden", "number", "email", "url", "password")},
    f"{WIDGETS}textarea.html": _textarea,
    "django/forms/errors/list/default.html": _error_list,
    "django/forms/errors/list/ul.html": _error_list,
}


class FastFormRenderer(DjangoTemplates):
    """Render plain inputs, textareas and error lists in Python; everything else with templates."""

    def render(self, template_name, context, request=None):
        fast = FAST.get(template_name)
        if fast is None:
            return super().render(template_name, context, request=request)
        return mark_safe(fast(context))

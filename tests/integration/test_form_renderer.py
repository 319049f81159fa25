"""The fast form renderer writes exactly what Django's widget and error-list templates do."""

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.forms.utils import ErrorList
from django.utils.safestring import mark_safe

from messageboard.form_renderer import FAST, FastFormRenderer
from messages_app.forms import MessageEditForm, MessageForm, SignupForm

TRICKY = ["plain", "quotes \" and ' <b>tags</b> & ampersands", "", "line one\nline two\n", "ünïcode ✎"]


class EveryWidget(forms.Form):
    text = forms.CharField(widget=forms.TextInput(attrs={"maxlength": 200, "autocomplete": "off", "data-x": 'a"b'}))
    hidden = forms.IntegerField(widget=forms.HiddenInput)
    number = forms.IntegerField(required=False)
    email = forms.EmailField(required=False)
    url = forms.URLField(required=False, widget=forms.URLInput(attrs={"disabled": True, "readonly": False}))
    password = forms.CharField(required=False, widget=forms.PasswordInput(render_value=True))
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 16}))


def rendered(form_class, renderer, **kwargs) -> list[str]:
    form = form_class(renderer=renderer, **kwargs)
    out = [str(form.non_field_errors())]
    for bound in form:
        out += [str(bound), str(bound.errors)]
    return out


@pytest.mark.parametrize("value", TRICKY)
@pytest.mark.parametrize("bound", [False, True])
def test_every_plain_widget_renders_as_the_templates_do(value, bound):
    data = {"text": value, "hidden": "7", "number": "x", "email": value, "url": value, "password": value, "body": value}
    kwargs = {"data": data} if bound else {"initial": {**data, "hidden": 7}}
    assert rendered(EveryWidget, FastFormRenderer(), **kwargs) == rendered(EveryWidget, DjangoTemplates(), **kwargs)


@pytest.mark.parametrize(
    ("form_class", "data"),
    [
        (MessageEditForm, {"subject": "", "body": "x\x00y", "base_version": "zero", "lease_token": ""}),
        (MessageEditForm, {"subject": "Fine <subj>", "body": "Fine & body", "base_version": "3", "lease_token": "t"}),
        (MessageForm, {"subject": " ", "body": ""}),
        (SignupForm, {"username": "a b", "password1": "short", "password2": "other"}),
    ],
)
@pytest.mark.django_db  # the sign-up form looks the username up
def test_the_boards_forms_render_as_the_templates_do(form_class, data):
    assert rendered(form_class, FastFormRenderer(), data=data) == rendered(form_class, DjangoTemplates(), data=data)


def test_error_lists_keep_safe_messages_and_their_field_id():
    for errors in (
        ErrorList(["<b>escaped</b>", mark_safe("<i>kept</i>")], field_id="id_body"),
        ErrorList(["only"], error_class="nonfield"),
        ErrorList([]),
    ):
        fast = FastFormRenderer().render(errors.template_name, errors.get_context())
        assert fast == DjangoTemplates().render(errors.template_name, errors.get_context())


def test_the_edit_forms_widgets_take_the_fast_path():
    names = {forms.TextInput.template_name, forms.HiddenInput.template_name, forms.Textarea.template_name}
    assert names | {ErrorList.template_name} <= FAST.keys()

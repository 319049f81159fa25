from django import forms
from django.contrib.auth.forms import UserCreationForm

from messages_app.errors import InvalidInput
from messages_app.services import SUBJECT_MAX_LENGTH, body_validate, subject_validate


def _service_rule(validate, value: str) -> str:
    try:
        validate(value)
    except InvalidInput as error:
        raise forms.ValidationError(error.detail) from None
    return value


class MessageForm(forms.Form):
    # strip=False: what the user typed is stored as typed; the services judge emptiness.
    subject = forms.CharField(
        strip=False, widget=forms.TextInput(attrs={"maxlength": SUBJECT_MAX_LENGTH, "autocomplete": "off"})
    )
    body = forms.CharField(strip=False, widget=forms.Textarea(attrs={"rows": 16}))

    def clean_subject(self) -> str:
        return _service_rule(subject_validate, self.cleaned_data["subject"])

    def clean_body(self) -> str:
        # Browsers submit a textarea's line breaks as CRLF whatever the user typed.
        return _service_rule(body_validate, self.cleaned_data["body"].replace("\r\n", "\n"))


class NewMessageForm(MessageForm):
    """A new message: its board among those the poster may post to (boards.postable_boards)."""

    # Offered: the boards the poster may post to. Judged by the service, not by the choices, so
    # a board one may not post to is refused with why (403), and one left out is the default.
    board = forms.CharField(required=False, max_length=50, widget=forms.Select)

    field_order = ["board", "subject", "body"]

    def __init__(self, *args, boards=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["board"].widget.choices = [(board.slug, board.name) for board in boards]


class MessageEditForm(MessageForm):
    base_version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    lease_token = forms.CharField(max_length=64, widget=forms.HiddenInput)


class SignupForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        fields = ("username",)

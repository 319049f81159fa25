"""Schemathesis against /api/openapi.json: generated, negative and stateful requests, no 500.

Every built-in check runs (server errors, documented statuses, headers and bodies, negative
data rejected, missing required headers, undeclared methods answered 405 with Allow, use
after delete, ignored auth). Examples are few so the module stays within a few seconds.
"""

from datetime import timedelta

import hypothesis
import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.wsgi import get_wsgi_application
from django.utils import timezone
from hypothesis import HealthCheck, Phase

from messages_app import tokens
from messages_app.models import Token

# Each WSGI call goes through Django's request signals, which close connections a test
# transaction holds open; real transactions avoid that.
pytestmark = pytest.mark.django_db(transaction=True)

# Statuses a request that matches the schema can still get, because they depend on state
# the schema cannot describe: a deleted message (410), a version that moved on (412), a
# lease someone holds (423), or text the services refuse (blank, NUL characters: 422).
STATE_DEPENDENT = ["2xx", "3xx", "401", "403", "404", "409", "410", "412", "422", "423"]

# A known key, so the schema's configuration can name it; each test stores its hash afresh.
FUZZER_KEY = "mb_schemathesis-fuzzer-key"

CONFIG = {
    # Named as the API's security scheme, so the ignored_auth check knows the credentials and
    # probes each write without them and with forged ones.
    "auth": {"openapi": {"BearerToken": {"bearer": FUZZER_KEY}}},
    "generation": {"max-examples": 12, "deterministic": True},
    "checks": {
        "positive_data_acceptance": {"expected-statuses": STATE_DEPENDENT},
        # The contract answers a PUT without If-Match with 428 Precondition Required.
        "missing_required_header": {"expected-statuses": [400, 401, 403, 422, 428]},
    },
}

HYPOTHESIS = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}


@pytest.fixture(autouse=True)
def fuzzer(transactional_db):
    user = get_user_model().objects.create_user(username="fuzzer", password="correct horse battery staple")
    now = timezone.now()
    Token.objects.create(
        user=user,
        prefix=FUZZER_KEY[:9],
        key_hash=tokens.token_hash(FUZZER_KEY),
        created_at=now,
        expires_at=now + timedelta(days=tokens.TOKEN_DAYS_DEFAULT),
    )
    return user


# Loaded at import: serving the OpenAPI document needs no database. (schemathesis's lazy
# from_fixture loader does not run under pytest 9: it sets the removed Node._nodeid.)
schema = schemathesis.openapi.from_wsgi(
    "/api/openapi.json", get_wsgi_application(), config=schemathesis.Config.from_dict(CONFIG)
)


@schema.parametrize()
@hypothesis.settings(max_examples=12, **HYPOTHESIS)
def test_every_operation_answers_generated_requests_within_the_contract(case):
    case.call_and_validate()


def test_sequences_of_calls_stay_within_the_contract():
    schema.as_state_machine().run(
        settings=hypothesis.settings(
            max_examples=25, stateful_step_count=6, phases=[Phase.generate, Phase.target], **HYPOTHESIS
        )
    )

"""The interactive API docs in a real browser: offline (no CDN) and under the board's CSP."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
    (event) => window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`));
"""


def test_docs_work_offline_under_the_content_security_policy(live_server, page):
    outside = []

    def only_this_server(route):
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.add_init_script(RECORD_CSP_VIOLATIONS)

    response = page.goto(f"{live_server.url}/api/docs")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    operation = page.locator("#operations-messages-message_list")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    live = operation.locator(".live-responses-table")
    live.wait_for()
    assert '"next_cursor": null' in live.inner_text()

    # 14 operations, 4 for moderation and history (issue 7), 2 to list and revoke tokens (issue 11).
    assert page.locator(".opblock").count() == 29
    assert outside == []
    assert page.evaluate("window.cspViolations") == []

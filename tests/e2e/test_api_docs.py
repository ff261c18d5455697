"""The API's browsable docs in a real browser: they render, and ask nothing of another host."""

from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    ("path", "rendered"),
    [
        ("/api/docs/", ".swagger-ui .info .title"),
        ("/api/redoc/", "h1"),
    ],
)
def test_the_api_docs_render_offline(live_server, page, artifacts_dir, path, rendered):
    requested: list[str] = []
    blocked_by_policy: list[str] = []  # refused by the page's Content-Security-Policy: never sent
    page.on("request", lambda request: requested.append(request.url))
    page.on("requestfailed", lambda request: request.failure == "csp" and blocked_by_policy.append(request.url))

    page.goto(f"{live_server.url}{path}")

    assert "LeadCRM API" in page.locator(rendered).first.inner_text()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(artifacts_dir / f"api-docs-{path.strip('/').replace('/', '-')}.png"))
    ours = urlsplit(live_server.url).netloc
    elsewhere = [url for url in requested if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != ours]
    assert [url for url in elsewhere if url not in blocked_by_policy] == []

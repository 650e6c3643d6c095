"""/docs and /redoc work without internet access: every asset they reference is served by the app itself."""

from __future__ import annotations

import re

import pytest

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
URL_IN_SCRIPT = re.compile(r"""["'](\w+:)?//[^"']*["']""")  # absolute or protocol-relative URLs in the page


@pytest.mark.parametrize(("page", "expected"), [
    ("/docs", {"swagger-ui-bundle.js": "javascript", "swagger-ui.css": "text/css", "favicon.png": "image/png"}),
    ("/redoc", {"redoc.standalone.js": "javascript", "favicon.png": "image/png"}),
])
async def test_docs_pages_reference_only_assets_the_app_serves(client, page, expected) -> None:
    r = await client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "cdn" not in html.lower() and "fonts.googleapis" not in html
    assert not URL_IN_SCRIPT.findall(html), URL_IN_SCRIPT.findall(html)  # no other host, no scheme
    assets = ASSET.findall(html)
    assert {a.rsplit("/", 1)[-1] for a in assets} == set(expected)
    for url in assets:
        assert url.startswith("/docs-static/"), url
        got = await client.get(url)
        assert got.status_code == 200, url
        assert expected[url.rsplit("/", 1)[-1]] in got.headers["content-type"], (url, got.headers["content-type"])
        assert len(got.content) > 1000  # the real bundle, not an error page
    assert "/openapi.json" in html


async def test_swagger_ui_is_a_version_that_reads_openapi_3_1(client) -> None:
    """FastAPI serves OpenAPI 3.1 documents, which Swagger UI renders from version 5 on (4.x shows an error)."""
    assert (await client.get("/openapi.json")).json()["openapi"].startswith("3.1")
    js = (await client.get("/docs-static/swagger-ui-bundle.js")).text
    version = re.search(r'PACKAGE_VERSION:"(\d+)\.\d+\.\d+"', js)
    assert version and int(version.group(1)) >= 5, version


async def test_oauth2_redirect_page_and_docs_stay_out_of_the_api(app, client) -> None:
    r = await client.get("/docs/oauth2-redirect")
    assert r.status_code == 200 and "oauth2" in r.text.lower()
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not {"/docs", "/redoc", "/docs/oauth2-redirect"} & set(paths)
    assert (await client.get("/docs-static/nothing-here.js")).status_code == 404
    assert (await client.get("/docs-static/../app/main.py")).status_code == 404

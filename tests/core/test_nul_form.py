"""A NUL character in a form field (which PostgreSQL text cannot hold) is a 4xx, never a 500."""

from tests.factories import bootstrap_admin


async def test_nul_in_login_form_is_4xx(app, client) -> None:
    await bootstrap_admin(app)
    r = await client.post("/api/v1/auth/token", data={"username": "ad\x00min", "password": "pass-word-123"})
    assert 400 <= r.status_code < 500, r.text

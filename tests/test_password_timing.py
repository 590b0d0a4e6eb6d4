"""A login for a username that does not exist costs what a wrong password costs (no timing oracle)."""

from api import auth


async def test_unknown_user_pays_for_a_real_verify(monkeypatch):
    verified = []
    real_verify = auth._hasher.verify

    def counting_verify(password: str, password_hash: str) -> bool:
        verified.append(password)
        return real_verify(password, password_hash)

    monkeypatch.setattr(auth._hasher, "verify", counting_verify)
    assert await auth.verify_unknown_user("guess-1") is False
    assert await auth.verify_unknown_user("guess-2") is False
    assert verified == ["guess-1", "guess-2"]

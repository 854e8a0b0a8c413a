"""Accounts: registration rules, login, safe redirects, logout, cookies."""

import pytest

from app.auth.models import User
from app.auth.routes import safe_next
from app.extensions import db
from tests.conftest import PASSWORD, events


def test_register_logs_in_and_opens_the_chat(client, auth):
    response = auth.register("alice")
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert client.get("/").status_code == 200


def test_password_is_stored_hashed(app, auth):
    auth.register("alice")
    with app.app_context():
        user = User.find("alice")
        assert PASSWORD not in user.password_hash
        assert user.check_password(PASSWORD)
        assert not user.check_password("wrong password")


def test_chinese_username_works(client, auth):
    assert auth.register("小明").status_code == 303
    assert "小明" in client.get("/").get_data(as_text=True)


def test_username_is_stored_in_nfc(app, auth):
    decomposed = "Jose\u0301"  # "José" typed with a combining accent
    assert auth.register(decomposed).status_code == 303
    with app.app_context():
        assert User.find("José").username == "Jos\u00e9"


@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("", "1 to 32 characters"),
        ("x" * 33, "1 to 32 characters"),
        ("bob smith", "Use only letters"),
        ("<script>", "Use only letters"),
        ("all", "reserved"),
        ("ALL", "reserved"),
    ],
)
def test_bad_usernames_are_refused_with_a_message(client, auth, username, message):
    response = auth.register(username)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # not logged in


def test_usernames_are_unique_ignoring_case(app, auth):
    auth.register("Alice")
    other = app.test_client()
    from tests.conftest import AuthActions

    response = AuthActions(other).register("aLICE")
    assert response.status_code == 400
    assert "taken" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("password", "confirm", "message"),
    [("short", "short", "at least 8"), ("long enough", "different!", "differ")],
)
def test_bad_passwords_are_refused(auth, password, confirm, message):
    response = auth.register("alice", password=password, confirm=confirm)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_form_without_csrf_token_is_refused_with_a_message(client):
    response = client.post(
        "/auth/register", data={"username": "eve", "password": PASSWORD, "confirm": PASSWORD}
    )
    assert response.status_code == 400
    assert "expired or did not come from this site" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_login_ignores_case_of_the_username(app, auth):
    auth.register("Alice")
    auth.logout()
    response = auth.login("aLiCe")
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_wrong_password_re_renders_the_form(auth, client):
    auth.register("alice")
    auth.logout()
    response = auth.login("alice", password="not the password")
    assert response.status_code == 400
    assert "Wrong username or password." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_unknown_user_gets_the_same_message(auth):
    response = auth.login("nobody")
    assert response.status_code == 400
    assert "Wrong username or password." in response.get_data(as_text=True)


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=%2F"


def test_login_follows_a_relative_next(auth):
    auth.register("alice")
    auth.logout()
    response = auth.login("alice", next_url="/healthz")
    assert response.headers["Location"] == "/healthz"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "http:/evil",
        "javascript:alert(1)",
        "/%0d\nx",
    ],
)
def test_login_refuses_an_offsite_next(auth, target):
    auth.register("alice")
    auth.logout()
    response = auth.login("alice", next_url=target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_safe_next_rules():
    assert safe_next("/") == "/"
    assert safe_next("/a/b?c=d") == "/a/b?c=d"
    for bad in [None, "", "x", "//h", "/\\h", "https://h/", "/a\\b", "/a\nb"]:
        assert safe_next(bad) is None, bad


def test_logout_needs_post_and_csrf(client, auth):
    auth.register("alice")
    assert client.get("/auth/logout").status_code == 405
    response = client.post("/auth/logout")
    assert response.status_code == 303  # refused: back to the chat with a message
    assert client.get("/").status_code == 200  # still logged in


def test_logout_ends_the_session(client, auth):
    auth.register("alice")
    response = auth.logout()
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/login"
    assert client.get("/").status_code == 302


def test_logout_closes_every_socket_of_the_user(app, browser, connect):
    from tests.conftest import AuthActions

    alice, bob = browser("alice"), browser("bob")
    tab1, tab2 = connect(alice), connect(alice)
    watcher = connect(bob)
    events(watcher)
    AuthActions(alice).logout()
    assert not tab1.is_connected("/chat")
    assert not tab2.is_connected("/chat")
    assert [e["user"] for e in events(watcher, "offline")] == ["alice"]


def test_session_cookie_is_httponly_and_lax(auth):
    response = auth.register("alice")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_remember_cookie_is_httponly_and_lax(auth):
    auth.register("alice")
    auth.logout()
    response = auth.login("alice", remember=True)
    remember = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember_token=")]
    assert remember, "no remember cookie"
    assert "HttpOnly" in remember[0]
    assert "SameSite=Lax" in remember[0]


def test_concurrent_registration_of_one_name_gives_a_form_error(app, client, auth, monkeypatch):
    # The name is free when the form checks it but taken when the row is inserted.
    with app.app_context():
        db.session.add(User("carol", PASSWORD))
        db.session.commit()
    monkeypatch.setattr(User, "find", classmethod(lambda cls, name: None))
    response = auth.register("CAROL")
    assert response.status_code == 409
    assert "taken" in response.get_data(as_text=True)


def test_logout_revokes_cookies_copied_before_it(app, client, auth, connect):
    auth.register("alice")
    auth.logout()
    auth.login("alice", remember=True)
    stolen = {cookie.key: cookie.value for cookie in client._cookies.values()}
    assert {"session", "remember_token"} <= stolen.keys()
    auth.logout()
    replay = app.test_client()
    for name, value in stolen.items():
        replay.set_cookie(name, value)
    assert replay.get("/").status_code == 302  # the old session no longer opens the chat
    assert not connect(replay).is_connected("/chat")
    # Logging in again works as usual.
    assert auth.login("alice").status_code == 303
    assert client.get("/").status_code == 200

"""`allhours staff`: the first admin and account upkeep, through the real command line."""

from __future__ import annotations

import re

import pytest

from allhours.cli import main
from backend.auth.accounts import Accounts, LoginRefused
from backend.db import Database


def _password(out: str) -> str:
    return re.search(r"password[^:]*: (\S+)$", out, re.M).group(1)


def test_add_prints_an_initial_password_that_must_be_changed(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    assert main(["staff", "--database-url", url, "add", "admin.wang", "--role", "admin"]) == 0
    password = _password(capsys.readouterr().out)

    db = Database(url)
    try:
        staff = Accounts(db).authenticate("admin.wang", password, "127.0.0.1")
        assert staff.roles == ("admin",) and staff.must_change_password
    finally:
        db.dispose()
    assert main(["staff", "--database-url", url, "list"]) == 0
    assert "admin.wang\tadmin\tmust change password" in capsys.readouterr().out


def test_passwd_replaces_the_password_and_disable_refuses_sign_in(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    main(["staff", "--database-url", url, "add", "clerk.li", "--role", "clerk"])
    old = _password(capsys.readouterr().out)
    assert main(["staff", "--database-url", url, "passwd", "clerk.li"]) == 0
    new = _password(capsys.readouterr().out)
    db = Database(url)
    try:
        accounts = Accounts(db)
        with pytest.raises(LoginRefused):
            accounts.authenticate("clerk.li", old, "127.0.0.1")
        assert accounts.authenticate("clerk.li", new, "127.0.0.1").must_change_password
        assert main(["staff", "--database-url", url, "disable", "clerk.li"]) == 0
        with pytest.raises(LoginRefused):
            accounts.authenticate("clerk.li", new, "127.0.0.2")
    finally:
        db.dispose()


def test_mistakes_get_a_clear_error_and_exit_2(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    main(["staff", "--database-url", url, "add", "clerk.li", "--role", "clerk"])
    capsys.readouterr()
    assert main(["staff", "--database-url", url, "add", "clerk.li", "--role", "clerk"]) == 2
    assert "account clerk.li exists" in capsys.readouterr().err
    assert main(["staff", "--database-url", url, "add", "Bad Name", "--role", "clerk"]) == 2
    assert "username" in capsys.readouterr().err
    assert main(["staff", "--database-url", url, "disable", "nobody"]) == 2
    assert main(["staff", "--database-url", url, "token", "clerk.li"]) == 2
    assert "change the initial password" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["staff", "--database-url", url, "add", "x.y", "--role", "root"])

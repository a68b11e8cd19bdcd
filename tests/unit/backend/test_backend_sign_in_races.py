"""Sign-in throttling under parallel attempts and slow password checks (SQLite and PostgreSQL).

Found in review: on PostgreSQL, 40 guesses sent at once from one address were all checked
against the password (17 wrong ones and the right one, accepted), the stored count lost
updates (6 after 17 failures) and two first failures inserting one scope's row met a
unique-key violation (a 500, counted nowhere); on SQLite each argon2 check ran inside the write
lock, so 40 attempts held every other writer up for seconds. An attempt is now counted before
its password is checked, atomically, and the check runs outside any transaction."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from backend.api import create_app
from backend.auth import passwords, throttle
from backend.auth.accounts import AccountError, Accounts, LoginRefused
from backend.auth.guard import Auth
from backend.auth.passwords import WeakPassword
from backend.auth.sessions import Sessions
from backend.db import Database
from backend.models import LoginThrottle, StaffAccount
from backend.service import BackendService

PASSWORD = "Correct-Horse-42"
USER = "clerk.li"
ADDRESS = "10.1.2.3"
LIMIT = throttle.ThrottleSettings().account_failures
ADDRESS_LIMIT = throttle.ThrottleSettings().address_failures
ON_POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class Clock:
    """Real time plus an offset a test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


class WatchedHasher:
    """The suite's real argon2 hasher, with every verification recorded (which password) and
    first handed to `hold` (to make the check slow, or stop it until the test lets it go)."""

    def __init__(self, real, hold: Callable[[str], None] | None = None):
        self.real, self.hold = real, hold
        self.checked: list[str] = []
        self._lock = threading.Lock()

    def verify(self, stored_hash, password):
        with self._lock:
            self.checked.append(password)
        if self.hold is not None:
            self.hold(password)
        return self.real.verify(stored_hash, password)

    def __getattr__(self, name):
        return getattr(self.real, name)


def _watch(monkeypatch, hold: Callable[[str], None] | None = None) -> WatchedHasher:
    hasher = WatchedHasher(passwords._HASHER, hold)
    monkeypatch.setattr(passwords, "_HASHER", hasher)
    return hasher


def _at_once(works: list[Callable[[], object]]) -> list[object]:
    """Each work on a thread of its own, all let go together; what each returned, or the
    exception it raised."""
    start = threading.Barrier(len(works))
    out: list[object] = [None] * len(works)

    def run(i: int) -> None:
        start.wait(60)
        try:
            out[i] = works[i]()
        except BaseException as exc:
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(works))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    return out


def _outcome(result: object) -> str:
    if isinstance(result, LoginRefused):
        return result.reason
    if isinstance(result, AccountError):
        return "wrong" if "current password is wrong" in str(result) else str(result)
    if isinstance(result, BaseException):
        return f"error: {result!r}"
    return "signed in"


def _count(db: Database, scope: str) -> tuple[int, datetime | None]:
    with db.reading() as session:
        row = session.get(LoginThrottle, scope)
        return (row.failures, row.locked_until) if row else (0, None)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def accounts(db, clock):
    accounts = Accounts(db, clock)
    accounts.add(USER, ["clerk"], password=PASSWORD, must_change_password=False)
    return accounts


@pytest.fixture
def service(tmp_path, database_url):
    svc = BackendService(database_url, tmp_path / "blobs", broker_port=None)
    Accounts(svc.db).add(USER, ["clerk"], password=PASSWORD, must_change_password=False)
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture
def app(service):
    return create_app(service, Auth(Accounts(service.db), Sessions(service.db)))


def test_parallel_wrong_sign_ins_check_no_more_passwords_than_the_limit(service, app, monkeypatch):
    # Slow each check a little, as argon2 is, so that every guess arrives while others run.
    hasher = _watch(monkeypatch, hold=lambda _: time.sleep(0.05))

    def guess(i: int) -> Callable[[], int]:
        def post() -> int:
            body = {"username": USER, "password": f"wrong-guess-{i:04d}"}
            return TestClient(app).post("/api/session", json=body).status_code

        return post

    statuses = _at_once([guess(i) for i in range(30)])
    assert Counter(statuses) == {401: LIMIT, 429: 30 - LIMIT}, statuses
    assert len(hasher.checked) == LIMIT
    db = service.db
    failures, locked_until = _count(db, throttle.account_scope(USER))
    assert failures == LIMIT and locked_until > datetime.now(UTC) + timedelta(minutes=4)
    assert _count(db, throttle.address_scope("testclient"))[0] == LIMIT
    refused = TestClient(app).post("/api/session", json={"username": USER, "password": PASSWORD})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 200


def test_parallel_wrong_current_passwords_check_no_more_than_the_limit(db, accounts, monkeypatch):
    hasher = _watch(monkeypatch, hold=lambda _: time.sleep(0.05))
    staff_id = accounts.authenticate(USER, PASSWORD, ADDRESS).id
    works = [
        lambda i=i: accounts.change_own_password(
            staff_id, f"guess-{i:04d}xx", "New-Pass-9911", ADDRESS
        )
        for i in range(30)
    ]
    outcomes = Counter(_outcome(r) for r in _at_once(works))
    assert outcomes == {"wrong": LIMIT, "locked": 30 - LIMIT}, outcomes
    assert len(hasher.checked) == 1 + LIMIT  # the sign-in, then the guesses let through
    assert _count(db, throttle.account_scope(USER))[0] == LIMIT
    assert _count(db, throttle.address_scope(ADDRESS))[0] == LIMIT


@ON_POSTGRES
def test_first_failures_of_an_address_at_once_are_each_counted_once(db, accounts, monkeypatch):
    # Found in review: two first failures inserted the same scope row (UniqueViolation, 500).
    hasher = _watch(monkeypatch, hold=lambda _: time.sleep(0.02))
    n = ADDRESS_LIMIT + 5
    works = [
        lambda i=i: accounts.authenticate(f"nobody.{i}", "guess-guess", ADDRESS) for i in range(n)
    ]
    outcomes = Counter(_outcome(r) for r in _at_once(works))
    assert outcomes == {"bad_credentials": ADDRESS_LIMIT, "locked": n - ADDRESS_LIMIT}, outcomes
    assert len(hasher.checked) == ADDRESS_LIMIT
    failures, locked_until = _count(db, throttle.address_scope(ADDRESS))
    assert failures == ADDRESS_LIMIT and locked_until is not None
    with pytest.raises(LoginRefused, match="locked"):
        accounts.authenticate(USER, PASSWORD, ADDRESS)


@ON_POSTGRES
def test_the_right_password_sent_while_wrong_ones_are_checked_is_refused(
    db, accounts, clock, monkeypatch
):
    # The wrong guesses stop inside their check until the right password has been tried.
    let_go = threading.Event()
    hasher = _watch(monkeypatch, hold=lambda pw: pw != PASSWORD and let_go.wait(60))
    n = 12  # fewer than the connection pool holds: the old code kept one through its check
    results: list[object] = []

    def guess(i: int) -> Callable[[], object]:
        def attempt() -> object:
            try:
                return accounts.authenticate(USER, f"wrong-guess-{i:04d}", ADDRESS)
            except LoginRefused as refused:
                results.append(refused)
                raise

        return attempt

    outcomes: list[object] = []
    guesses = threading.Thread(
        target=lambda: outcomes.extend(_at_once([guess(i) for i in range(n)]))
    )
    guesses.start()
    try:
        deadline = time.monotonic() + 30  # generous: a loaded machine starts threads late
        while len(hasher.checked) + len(results) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(LoginRefused) as right:
            accounts.authenticate(USER, PASSWORD, ADDRESS)
        assert right.value.reason == "locked" and right.value.retry_after_s > 200
        assert PASSWORD not in hasher.checked
    finally:
        let_go.set()
        guesses.join(90)
    assert Counter(_outcome(r) for r in outcomes) == {
        "bad_credentials": LIMIT,
        "locked": n - LIMIT,
    }
    assert _count(db, throttle.account_scope(USER))[0] == LIMIT
    clock.offset += timedelta(minutes=6)
    assert accounts.authenticate(USER, PASSWORD, ADDRESS).username == USER


@ON_SQLITE
@pytest.mark.parametrize("operation", ["sign_in", "change_password"])
def test_a_password_being_checked_holds_no_other_writer_up(db, accounts, monkeypatch, operation):
    # Found in review: argon2 ran inside BEGIN IMMEDIATE, so ingest waited up to 8.9 s.
    staff_id = accounts.authenticate(USER, PASSWORD, ADDRESS).id
    checking, let_go = threading.Event(), threading.Event()

    def hold(_password: str) -> None:
        checking.set()
        let_go.wait(10)

    _watch(monkeypatch, hold)
    attempt = {
        "sign_in": lambda: accounts.authenticate(USER, "wrong-password", ADDRESS),
        "change_password": lambda: accounts.change_own_password(
            staff_id, "wrong-password", "New-Pass-9911", ADDRESS
        ),
    }[operation]
    out: list[object] = []
    thread = threading.Thread(target=lambda: out.extend(_at_once([attempt])))
    thread.start()
    try:
        assert checking.wait(5)
        started = time.monotonic()
        with db.transaction() as session:
            session.get(StaffAccount, staff_id).display_name = "Li"
        waited = time.monotonic() - started
    finally:
        let_go.set()
        thread.join(10)
    # Held, the check lasts 10 s: a writer waiting for it would wait that long.
    assert waited < 5.0, f"the writer waited {waited:.1f} s for a password check"
    assert _outcome(out[0]) == {"sign_in": "bad_credentials", "change_password": "wrong"}[operation]
    assert _count(db, throttle.account_scope(USER))[0] == 1


def test_a_sign_in_that_succeeds_is_no_failure_of_the_address(db, accounts):
    for i in range(ADDRESS_LIMIT - 1):
        with pytest.raises(LoginRefused, match="bad_credentials"):
            accounts.authenticate(f"nobody.{i}", "guess-guess", ADDRESS)
    assert accounts.authenticate(USER, PASSWORD, ADDRESS).username == USER
    assert _count(db, throttle.address_scope(ADDRESS)) == (ADDRESS_LIMIT - 1, None)
    with pytest.raises(LoginRefused, match="bad_credentials"):  # the twentieth failure locks
        accounts.authenticate("nobody.x", "guess-guess", ADDRESS)
    with pytest.raises(LoginRefused, match="locked"):
        accounts.authenticate(USER, PASSWORD, ADDRESS)


def test_the_lock_doubles_with_each_failure_after_it_runs_out(db, accounts, clock):
    for _ in range(LIMIT):
        with pytest.raises(LoginRefused, match="bad_credentials"):
            accounts.authenticate(USER, "wrong-password", ADDRESS)
    with pytest.raises(LoginRefused, match="locked") as first:
        accounts.authenticate(USER, PASSWORD, ADDRESS)
    assert 240 < first.value.retry_after_s <= 300
    clock.offset += timedelta(minutes=6)
    with pytest.raises(LoginRefused, match="bad_credentials"):
        accounts.authenticate(USER, "wrong-password", ADDRESS)
    with pytest.raises(LoginRefused, match="locked") as second:
        accounts.authenticate(USER, PASSWORD, ADDRESS)
    assert 540 < second.value.retry_after_s <= 600
    assert _count(db, throttle.account_scope(USER))[0] == LIMIT + 1
    clock.offset += timedelta(minutes=11)
    assert accounts.authenticate(USER, PASSWORD, ADDRESS).username == USER
    assert _count(db, throttle.account_scope(USER)) == (0, None)


def test_the_right_current_password_with_a_refused_new_one_is_no_failure(db, accounts):
    staff_id = accounts.authenticate(USER, PASSWORD, "10.9.9.9").id
    for _ in range(LIMIT - 1):
        with pytest.raises(AccountError, match="current password is wrong"):
            accounts.change_own_password(staff_id, "guess-0000xx", "New-Pass-9911", ADDRESS)
    for _ in range(3):
        with pytest.raises(WeakPassword):
            accounts.change_own_password(staff_id, PASSWORD, "short", ADDRESS)
        with pytest.raises(AccountError, match="must differ"):
            accounts.change_own_password(staff_id, PASSWORD, PASSWORD, ADDRESS)
    assert _count(db, throttle.account_scope(USER)) == (LIMIT - 1, None)
    assert _count(db, throttle.address_scope(ADDRESS)) == (LIMIT - 1, None)
    with pytest.raises(AccountError, match="current password is wrong"):  # the fifth locks
        accounts.change_own_password(staff_id, "guess-0000xx", "New-Pass-9911", ADDRESS)
    with pytest.raises(LoginRefused, match="locked"):
        accounts.change_own_password(staff_id, PASSWORD, "New-Pass-9911", ADDRESS)

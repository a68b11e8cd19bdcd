"""The staff routes: masked answers, and refused without sign-in or the outbox permission."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from backend.auth.accounts import Accounts
from backend.auth.bootstrap import account_with_token, bearer
from backend.auth.guard import Auth, Forbidden, NotSignedIn, require
from backend.auth.roles import Permission
from backend.auth.sessions import Sessions
from backend.notifications.routes import notification_routes

NO = "AH-T0001-20261203-0001"


def _app(notified) -> FastAPI:
    app = FastAPI()
    app.state.auth = Auth(Accounts(notified.db), Sessions(notified.db))

    @app.exception_handler(NotSignedIn)
    async def _401(_r: Request, _e: NotSignedIn) -> JSONResponse:
        return JSONResponse({"detail": "sign in first"}, status_code=401)

    @app.exception_handler(Forbidden)
    async def _403(_r: Request, e: Forbidden) -> JSONResponse:
        return JSONResponse({"detail": "not allowed", "reason": str(e)}, status_code=403)

    guard = [Depends(require(Permission.READ_SMS_OUTBOX))]
    follow_up = [Depends(require(Permission.FOLLOW_UP_SMS))]
    app.include_router(notification_routes(notified.db, guard, follow_up))
    return app


def test_the_routes_refuse_strangers_and_roles_without_the_outbox_right(notified):
    notified.submit(NO)
    _, no_right = account_with_token(notified.db, "ops.one", ["operator"])
    with TestClient(_app(notified)) as client:
        assert client.get("/api/notifications").status_code == 401
        assert client.get("/api/notifications/attention").status_code == 401
        assert client.get("/api/notifications", headers=bearer(no_right)).status_code == 403


def test_staff_see_masked_messages_and_bad_filters_are_refused(notified):
    notified.approve(NO)
    notified.load(NO)
    _, token = account_with_token(notified.db, "admin.one", ["admin"])

    with TestClient(_app(notified), headers=bearer(token)) as client:
        rows = client.get("/api/notifications", params={"application_no": NO}).json()
        too_long = client.get("/api/notifications", params={"application_no": "A" * 65})
        bad_state = client.get("/api/notifications", params={"state": "sent; drop"})

    assert [r["kind"] for r in rows][:2] == ["pickup_code", "approved"]
    assert rows[0]["params"]["code"] == "******" and rows[0]["phone"] == "138****8000"
    assert (too_long.status_code, bad_state.status_code) == (422, 422)

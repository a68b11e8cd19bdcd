"""JSON routes to sign in and out, change one's password, and create a personal API token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from .accounts import AccountError, LoginRefused
from .guard import SESSION_COOKIE, Auth, Caller, ReadyCaller, client_address
from .passwords import MAX_LENGTH, WeakPassword
from .roles import permissions_of
from .sessions import SignedIn


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_LENGTH)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=MAX_LENGTH)
    new_password: str = Field(min_length=1, max_length=MAX_LENGTH)


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64, pattern=r"^[\w .-]+$")


def describe(who: SignedIn) -> dict[str, Any]:
    return {
        "username": who.staff.username,
        "display_name": who.staff.display_name,
        "roles": list(who.staff.roles),
        "permissions": sorted(p.value for p in permissions_of(list(who.staff.roles))),
        "must_change_password": who.staff.must_change_password,
    }


def set_session_cookie(response: Response, request: Request, secret: str) -> None:
    auth: Auth = request.app.state.auth
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        httponly=True,
        samesite="strict",
        secure=auth.cookie_secure(request),
        path="/",
        max_age=int(auth.sessions.settings.absolute.total_seconds()),
    )


def sign_in(request: Request, username: str, password: str) -> tuple[SignedIn, str] | Response:
    """Check credentials and open a session; a refusal comes back as a ready JSON response."""
    auth: Auth = request.app.state.auth
    try:
        staff = auth.accounts.authenticate(username, password, client_address(request))
    except LoginRefused as refused:
        if refused.reason == "locked":
            wait = max(1, int(refused.retry_after_s + 0.999))
            return JSONResponse(
                {"detail": "too many failed sign-ins; try again later", "retry_after_s": wait},
                status_code=429,
                headers={"Retry-After": str(wait)},
            )
        return JSONResponse({"detail": "wrong username or password"}, status_code=401)
    secret, csrf = auth.sessions.open(staff, client_address(request))
    return SignedIn(staff, csrf, None), secret


router = APIRouter(prefix="/api", tags=["session"])


@router.post("/session", summary="sign in (sets the session cookie, returns the CSRF token)")
def login(request: Request, body: Credentials) -> Response:
    result = sign_in(request, body.username, body.password)
    if isinstance(result, Response):
        return result
    who, secret = result
    response = JSONResponse(describe(who) | {"csrf_token": who.csrf_token})
    set_session_cookie(response, request, secret)
    return response


@router.get("/session", summary="who is signed in")
def whoami(who: Caller) -> dict[str, Any]:
    return describe(who)


@router.delete("/session", summary="sign out")
def logout(request: Request, who: Caller) -> Response:
    auth: Auth = request.app.state.auth
    if who.session_id_hash:
        auth.sessions.end(who.session_id_hash)
    response = JSONResponse({"signed_out": True})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/session/password", summary="change one's own password")
def change_password(request: Request, body: PasswordChange, who: Caller) -> Response:
    auth: Auth = request.app.state.auth
    try:
        auth.accounts.change_own_password(who.staff.id, body.current_password, body.new_password)
    except WeakPassword as exc:
        return JSONResponse({"detail": f"new password: {exc}"}, status_code=422)
    except AccountError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)
    return JSONResponse(describe(auth.sessions.refresh_staff(who)))


@router.post("/tokens", summary="create a personal API token (shown once)")
def create_token(
    request: Request,
    body: TokenRequest,
    who: ReadyCaller,
) -> dict[str, Any]:
    auth: Auth = request.app.state.auth
    return {"name": body.name, "token": auth.sessions.issue_token(who.staff, body.name)}

"""JSON routes to sign in and out, change one's password, and make, list and revoke one's
personal API tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from .accounts import AccountError, LoginRefused
from .guard import SESSION_COOKIE, Auth, Caller, ReadyCaller, client_address
from .passwords import MAX_LENGTH, WeakPassword
from .roles import permissions_of
from .sessions import SignedIn, TokenInfo


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
    # The account's password, checked as a sign-in is: a session alone (someone at an
    # unlocked browser) makes no 90-day token.
    password: str = Field(min_length=1, max_length=MAX_LENGTH)


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


def locked(refused: LoginRefused) -> JSONResponse:
    """429 with Retry-After, for a sign-in or a password change while the throttle holds."""
    wait = max(1, int(refused.retry_after_s + 0.999))
    return JSONResponse(
        {"detail": "too many failed sign-ins; try again later", "retry_after_s": wait},
        status_code=429,
        headers={"Retry-After": str(wait)},
    )


def sign_in(request: Request, username: str, password: str) -> tuple[SignedIn, str] | Response:
    """Check credentials and open a session; a refusal comes back as a ready JSON response."""
    auth: Auth = request.app.state.auth
    try:
        staff = auth.accounts.authenticate(username, password, client_address(request))
    except LoginRefused as refused:
        if refused.reason == "locked":
            return locked(refused)
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


@router.delete("/session", summary="sign out (with a token: revoke that token)")
def logout(request: Request, who: Caller) -> Response:
    auth: Auth = request.app.state.auth
    body: dict[str, Any] = {"signed_out": True}
    if who.session_id_hash:
        auth.sessions.end(who.session_id_hash)
    if who.token_hash:
        body["token_revoked"] = auth.sessions.revoke_token(who.staff.id, by_hash=who.token_hash)
    response = JSONResponse(body)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def change_own_password(
    request: Request, who: SignedIn, current: str, new: str
) -> tuple[SignedIn, str | None]:
    """Change the caller's password: every session and token of the account ends, and the
    session that asked (if a session asked) goes on under a new cookie secret and CSRF token.
    Returns the account with that CSRF token, and the new cookie secret (None: the caller is
    signed in nowhere now). Raises what `Accounts.change_own_password` raises: LoginRefused
    while locked, WeakPassword or AccountError with the reason for the person."""
    auth: Auth = request.app.state.auth
    address = client_address(request)
    staff = auth.accounts.change_own_password(who.staff.id, current, new, address)
    reopened = auth.sessions.reopen(who, address)
    if reopened is None:
        return SignedIn(staff, None, None), None
    secret, csrf = reopened
    return SignedIn(staff, csrf, None), secret


@router.post(
    "/session/password",
    summary="change one's own password (ends every other session and every token)",
)
def change_password(request: Request, body: PasswordChange, who: Caller) -> Response:
    try:
        changed, secret = change_own_password(
            request, who, body.current_password, body.new_password
        )
    except LoginRefused as refused:
        return locked(refused)
    except WeakPassword as exc:
        return JSONResponse({"detail": f"new password: {exc}"}, status_code=422)
    except AccountError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)
    response = JSONResponse(describe(changed) | {"csrf_token": changed.csrf_token})
    if secret is None:
        response.delete_cookie(SESSION_COOKIE, path="/")
    else:
        set_session_cookie(response, request, secret)
    return response


@router.post(
    "/tokens",
    summary="create a personal API token (shown once; needs a session and the password)",
)
def create_token(request: Request, body: TokenRequest, who: ReadyCaller) -> Response:
    if who.session_id_hash is None:
        # A token that made tokens would outlive its own expiry and any revocation of it.
        detail = "a token cannot make tokens: sign in with your password and make it there"
        return JSONResponse({"detail": detail, "reason": "session_required"}, status_code=403)
    auth: Auth = request.app.state.auth
    address = client_address(request)
    # The password is checked as a sign-in and a password change check it (the same
    # throttle): a wrong one counts as a failed sign-in of the account and the address, and
    # while either is locked the request is refused without a check.
    try:
        confirmed = auth.accounts.authenticate(who.staff.username, body.password, address)
    except LoginRefused as refused:
        if refused.reason == "locked":
            return locked(refused)
        confirmed = None
    if confirmed is None or confirmed.id != who.staff.id:
        detail = "the password is wrong: a token needs your current password"
        return JSONResponse({"detail": detail, "reason": "password_wrong"}, status_code=403)
    token = auth.sessions.issue_token(
        who.staff, body.name, client_address=address, session_id_hash=who.session_id_hash
    )
    return JSONResponse({"name": body.name, "token": token})


def _token(info: TokenInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "name": info.name,
        "prefix": info.prefix,
        "created_at": info.created_at.isoformat(),
        "expires_at": info.expires_at.isoformat(),
        "last_used_at": info.last_used_at.isoformat() if info.last_used_at else None,
        "created_from": info.created_from,
    }


@router.get("/tokens", summary="one's own live API tokens (never their secrets)")
def list_tokens(request: Request, who: ReadyCaller) -> list[dict[str, Any]]:
    auth: Auth = request.app.state.auth
    return [_token(t) for t in auth.sessions.tokens(who.staff.id)]


@router.delete("/tokens/{token_id}", summary="revoke one of one's own API tokens")
def revoke_token(
    request: Request,
    token_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")],
    who: ReadyCaller,
) -> Response:
    auth: Auth = request.app.state.auth
    if not auth.sessions.revoke_token(who.staff.id, by_id=token_id):
        return JSONResponse({"detail": "no such token"}, status_code=404)
    return JSONResponse({"id": token_id, "revoked": True})

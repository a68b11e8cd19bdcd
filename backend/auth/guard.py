"""Who is asking: the FastAPI dependencies that sign a request in and check its permission."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response

from .accounts import Accounts
from .roles import Permission, permissions_of
from .sessions import Sessions, SignedIn, same_token

SESSION_COOKIE = "allhours_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NotSignedIn(Exception):
    """No live session or token came with the request (HTTP 401)."""


class Forbidden(Exception):
    """Signed in, but not allowed: `reason` is csrf, password_change_required or the permission."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Auth:
    """The account and session stores a running app signs requests in with."""

    accounts: Accounts
    sessions: Sessions
    secure_cookies: bool | None = None  # None: Secure exactly when the request came over https

    def cookie_secure(self, request: Request) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return request.url.scheme == "https"


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _csrf_given(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # Starlette caches it, so the route still reads it
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def signed_in(request: Request) -> SignedIn:
    """The caller, by API token (Authorization: Bearer) or console session cookie with CSRF."""
    auth: Auth = request.app.state.auth
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        who = auth.sessions.resolve_token(token.strip()) if scheme.lower() == "bearer" else None
        if who is None:
            raise NotSignedIn()
        request.state.signed_in = who
        return who
    who = auth.sessions.resolve(request.cookies.get(SESSION_COOKIE, ""))
    if who is None:
        raise NotSignedIn()
    if request.method not in SAFE_METHODS and not same_token(
        who.csrf_token, await _csrf_given(request)
    ):
        raise Forbidden("csrf")
    request.state.signed_in = who
    return who


def identified(request: Request) -> SignedIn:
    """The caller by a valid API token or session, nothing more (no CSRF, no role): what
    decides a 401 before anything else about the request is looked at."""
    auth: Auth = request.app.state.auth
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme:
        who = auth.sessions.resolve_token(token.strip()) if scheme.lower() == "bearer" else None
    else:
        who = auth.sessions.resolve(request.cookies.get(SESSION_COOKIE, ""))
    if who is None:
        raise NotSignedIn()
    return who


async def refuse_stranger(request: Request) -> Response | None:
    """The "sign in first" answer for a caller without valid credentials on a route that
    takes its caller, else None. FastAPI reads and checks a body before a route's
    dependencies run, so a stranger's malformed body would otherwise hear 422 or 400: what
    the route expects."""
    pending = list(
        getattr(getattr(request.scope.get("route"), "dependant", None), "dependencies", [])
    )
    while pending:
        dependency = pending.pop()
        if getattr(dependency.call, "signs_in", False):
            try:
                identified(request)
            except NotSignedIn as refused:
                return await request.app.exception_handlers[NotSignedIn](request, refused)
            return None
        pending += dependency.dependencies
    return None


async def ready(request: Request) -> SignedIn:
    """The caller, signed in and past the first password change (any role)."""
    who = await signed_in(request)
    if who.staff.must_change_password:
        raise Forbidden("password_change_required")
    return who


def require(permission: Permission) -> Callable[[Request], Coroutine[Any, Any, SignedIn]]:
    """A dependency: the caller, signed in, past the first password change, with `permission`."""

    async def dependency(request: Request) -> SignedIn:
        who = await ready(request)
        if permission not in permissions_of(list(who.staff.roles)):
            raise Forbidden(permission.value)
        return who

    dependency.__name__ = f"require_{permission.name.lower()}"
    dependency.signs_in = True  # type: ignore[attr-defined]
    return dependency


signed_in.signs_in = True  # type: ignore[attr-defined]
ready.signs_in = True  # type: ignore[attr-defined]


Caller = Annotated[SignedIn, Depends(signed_in)]
ReadyCaller = Annotated[SignedIn, Depends(ready)]


def allowed(permission: Permission) -> Any:
    """A route parameter type: the caller, with `permission` (401 or 403 otherwise)."""
    return Annotated[SignedIn, Depends(require(permission))]

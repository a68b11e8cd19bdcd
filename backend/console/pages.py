"""Console routes: sign-in and password change, the review queue, a case, its scans, actions."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from cloud_bridge.contract.messages import SERVICE_TZ

from .. import claims, escalations, ratings
from ..auth.accounts import AccountError, LoginRefused
from ..auth.guard import SESSION_COOKIE, Auth, Caller, Forbidden, ReadyCaller, allowed
from ..auth.passwords import MAX_LENGTH, WeakPassword
from ..auth.roles import Permission, permissions_of
from ..auth.routes import change_own_password, locked, set_session_cookie, sign_in
from ..auth.sessions import SignedIn
from ..models import StaffAccount, Terminal, utcnow
from ..notifications import staff as notices
from ..notifications.routes import needs_attention
from ..service import BackendService
from ..staff import (
    ACTIONS,
    REASONS,
    Actor,
    KeyReused,
    ReasonRequired,
    VersionConflict,
    ViewLimitReached,
)
from ..supplement_requests import MAX_REQUESTED
from ..workflow import (
    STAFF_STEPS,
    BadSupplementRequest,
    InvalidTransition,
    NotFound,
    WorkflowError,
)
from . import cases, ids, statistics, viewer
from .deadlines import Colour
from .i18n import LANG_COOKIE, Wording, language
from .times import local_text

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
LOGIN_CSRF_COOKIE = "allhours_login_csrf"

_MATERIAL = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_TOKEN_ID = re.compile(r"^[0-9a-f]{16}$")
# The actions this page's form does, which come back as `?done=` (act.done.* words them); any
# other value, typed into the address bar, shows the page without a notice.
DONE = tuple(a for a in ACTIONS if a not in ("resend_code", "return"))

Reader = allowed(Permission.READ_APPLICATIONS)
FollowUp = allowed(Permission.FOLLOW_UP_SMS)
Clerk = allowed(Permission.ACT_ON_APPLICATIONS)
Assigner = allowed(Permission.ASSIGN_CASES)
Supervision = allowed(Permission.READ_ESCALATIONS)
Statistician = allowed(Permission.READ_STATISTICS)
RatingCloser = allowed(Permission.CLOSE_LOW_RATINGS)


async def _notice_reader(who: ReadyCaller) -> SignedIn:
    """Notices are for those who work cases, and for admins (security notices: view audit)."""
    can = permissions_of(list(who.staff.roles))
    if Permission.READ_APPLICATIONS not in can and Permission.READ_VIEW_AUDIT not in can:
        raise Forbidden(Permission.READ_APPLICATIONS.value)
    return who


NoticeReader = Annotated[SignedIn, Depends(_notice_reader)]

router = APIRouter(prefix="/console", include_in_schema=False)


def _service(request: Request) -> BackendService:
    return request.app.state.console_service


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page in the request's language (its security headers: backend/security_headers.py)."""
    lang = language(request)
    who = getattr(request.state, "signed_in", None)
    unread = 0
    if who is not None and not who.staff.must_change_password:
        with _service(request).db.reading() as session:
            unread = notices.unread(session, who.staff.id)
    context |= {
        "unread": unread,
        "t": Wording(lang),
        "lang": lang,
        "who": who,
        "can": permissions_of(list(who.staff.roles)) if who else frozenset(),
        "csrf": who.csrf_token if who else None,
        "path": request.url.path,
    }
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)
    if request.query_params.get("lang") == lang:
        secure = request.app.state.auth.cookie_secure(request)
        response.set_cookie(
            LANG_COOKIE, lang, samesite="strict", secure=secure, max_age=365 * 86400
        )
    return response


def not_found_page(request: Request) -> Response | None:
    """The console's "not found" page for a console address a browser asked for that names
    nothing: an unknown path, or a value the route cannot take (`/console/fleet/rollouts/abc`,
    like an id no rollout has). None for anything else (the API, forms posted, assets)."""
    path = request.url.path
    if request.method not in ("GET", "HEAD") or not path.startswith("/console/"):
        return None
    if path.startswith("/console/static/"):
        return None
    return render(request, "forbidden.html", 404, reason="not_found")


def forbidden_page(request: Request, exc: Forbidden) -> Response:
    """403 for the console: a page that says why, or the password page when that is why."""
    if exc.reason == "password_change_required":
        return RedirectResponse("/console/password", status_code=303)
    return render(request, "forbidden.html", 403, reason=exc.reason)


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/console/queue", status_code=303)


@router.get("/login")
def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=MAX_LENGTH)],
    csrf_token: Annotated[str, Form(max_length=64)],
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf_token):
        return _login_page(request, "login.expired", 403)
    result = sign_in(request, username, password)
    if isinstance(result, Response):
        key = "login.locked" if result.status_code == 429 else "login.wrong"
        return _login_page(request, key, result.status_code)
    who, secret = result
    target = "/console/password" if who.staff.must_change_password else _landing(who)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, secret)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


def _landing(who: SignedIn) -> str:
    """The queue for those who read applications; the fleet for operators."""
    can = permissions_of(list(who.staff.roles))
    if Permission.READ_APPLICATIONS not in can and Permission.READ_FLEET in can:
        return "/console/fleet"
    return "/console/queue"


def _login_page(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", status_code, login_csrf=token, error=error)
    # Double-submit cookie: a page on another site cannot read it to post our form.
    secure = request.app.state.auth.cookie_secure(request)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure, max_age=3600
    )
    return response


@router.post("/logout")
def logout(request: Request, who: Caller) -> Response:
    auth: Auth = request.app.state.auth
    if who.session_id_hash:
        auth.sessions.end(who.session_id_hash)
    elif who.token_hash:  # signed in with a token: signing out ends it, as the API's does
        auth.sessions.revoke_token(who.staff.id, by_hash=who.token_hash)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _own_tokens(request: Request, who: SignedIn) -> list[dict[str, str]]:
    """The caller's live API tokens as the password page lists them (never a secret)."""
    auth: Auth = request.app.state.auth
    return [
        {
            "id": tk.id,
            "name": tk.name,
            "prefix": tk.prefix,
            "created": local_text(tk.created_at, "%Y-%m-%d %H:%M"),
            "created_from": tk.created_from,
            "last_used": local_text(tk.last_used_at, "%Y-%m-%d %H:%M"),
            "expires": local_text(tk.expires_at, "%Y-%m-%d"),
        }
        for tk in auth.sessions.tokens(who.staff.id)
    ]


def _password_page(
    request: Request, who: SignedIn, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    forced = who.staff.must_change_password
    context = {"error": None, "token_revoked": False} | extra
    tokens = _own_tokens(request, who)
    return render(request, "password.html", status_code, forced=forced, tokens=tokens, **context)


@router.get("/password")
def password_form(request: Request, who: Caller) -> Response:
    revoked = request.query_params.get("done") == "token_revoked"
    return _password_page(request, who, token_revoked=revoked)


@router.post("/tokens/{token_id}/revoke")
def revoke_own_token(request: Request, token_id: str, who: Caller) -> Response:
    """Revoke one of one's own API tokens, listed on the password page (CSRF-checked form)."""
    auth: Auth = request.app.state.auth
    if not _TOKEN_ID.fullmatch(token_id) or not auth.sessions.revoke_token(
        who.staff.id, by_id=token_id
    ):
        error = Wording(language(request))("password.tokens.unknown")
        return _password_page(request, who, 404, error=error)
    return RedirectResponse("/console/password?done=token_revoked", status_code=303)


@router.post("/password")
def change_password(
    request: Request,
    who: Caller,
    current_password: Annotated[str, Form(max_length=MAX_LENGTH)],
    new_password: Annotated[str, Form(max_length=MAX_LENGTH)],
    repeat_password: Annotated[str, Form(max_length=MAX_LENGTH)],
) -> Response:
    t = Wording(language(request))
    error: str | None = None
    status_code, headers = 422, {}
    secret: str | None = None
    if new_password != repeat_password:
        error = t("password.mismatch")
    else:
        try:
            _changed, secret = change_own_password(request, who, current_password, new_password)
        except LoginRefused as refused:
            error, status_code = t("login.locked"), 429
            headers = {"Retry-After": locked(refused).headers["Retry-After"]}
        except (WeakPassword, AccountError) as exc:
            error = str(exc)
    if error:
        page = _password_page(request, who, status_code, error=error)
        page.headers.update(headers)
        return page
    # Every session and token of the account ended with the change; this browser goes on
    # under a new cookie (a token that asked is signed in nowhere now).
    if secret is None:
        response = RedirectResponse("/console/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
    # Where this person's work is: an operator's queue page would be a 403.
    response = RedirectResponse(f"{_landing(who)}?changed=1", status_code=303)
    set_session_cookie(response, request, secret)
    return response


@router.get("/queue")
def queue(
    request: Request,
    who: Reader,
    state: str | None = None,
    item: str | None = None,
    terminal: str | None = None,
    colour: str | None = None,
    holder: str | None = None,
) -> Response:
    f = cases.QueueFilter(
        state or None,
        (item or "")[:32] or None,
        (terminal or "")[:64] or None,
        Colour(colour) if colour in Colour.__members__.values() else None,
        holder if holder in cases.HOLDER_FILTERS else None,
    )
    service = _service(request)
    today = datetime.now(SERVICE_TZ).date()  # deadlines are Beijing working days
    with service.db.reading() as session:
        rows = cases.queue(session, f, service.calendar, today, who.staff.id)
        options = cases.choices(session)
    template = "queue_rows.html" if request.headers.get("HX-Request") else "queue.html"
    return render(request, template, rows=rows, options=options, f=f)


@router.get("/to-call")
def to_call(request: Request, _who: FollowUp) -> Response:
    """The citizens an SMS did not reach, for staff to phone (numbers masked here)."""
    with _service(request).db.reading() as session:
        rows = needs_attention(session)
    return render(request, "to_call.html", rows=rows)


@router.get("/applications/{application_no}")
def application(
    request: Request, application_no: str, who: Reader, unmasked: bool = False
) -> Response:
    if unmasked:
        if Permission.VIEW_UNMASKED not in permissions_of(list(who.staff.roles)):
            raise Forbidden(Permission.VIEW_UNMASKED.value)
        try:
            _service(request).desk.record_unmasked_view(
                Actor(who.staff.id, who.staff.username), application_no
            )
        except NotFound:
            return render(request, "forbidden.html", 404, reason="not_found")
        except ViewLimitReached as exc:
            return _view_limit_page(request, exc, application_no)
    return _case_page(request, application_no, unmasked=unmasked)


def _view_limit_page(request: Request, exc: ViewLimitReached, application_no: str) -> Response:
    """429: the person viewed as much personal data this hour as allowed (backend/staff.py)."""
    minutes = max(1, -(-exc.retry_after_s // 60))
    page = render(
        request,
        "view_limit.html",
        429,
        kind=exc.action,
        count=exc.count,
        minutes=minutes,
        application_no=application_no,
    )
    page.headers["Retry-After"] = str(exc.retry_after_s)
    return page


def _case_page(
    request: Request,
    application_no: str,
    status_code: int = 200,
    unmasked: bool = False,
    **extra: Any,
) -> Response:
    service = _service(request)
    today = datetime.now(SERVICE_TZ).date()
    with service.db.reading() as session:
        try:
            c = cases.case(session, application_no[:64], unmasked, service.calendar, today)
        except NotFound:
            c = None
        else:
            terminals = list(session.scalars(select(Terminal.id).order_by(Terminal.id)))
            staff = claims.assignable(session)
    if c is None:
        return render(request, "forbidden.html", 404, reason="not_found")
    steps = [s for s, rule in STAFF_STEPS.items() if c["status"] in rule.sources]
    done = request.query_params.get("done")
    return render(
        request,
        "application.html",
        status_code,
        c=c,
        steps=steps,
        reasons=REASONS,
        terminals=terminals,
        assignable=staff,
        key=secrets.token_hex(12),
        done=done if done in DONE else None,
        **extra,
    )


@router.post("/applications/{application_no}/act")
def act(
    request: Request,
    application_no: str,
    who: Clerk,
    action: Annotated[str, Form(max_length=32)],
    version: Annotated[int, Form(ge=1)],
    idempotency_key: Annotated[str, Form(pattern=r"^[A-Za-z0-9_-]{8,64}$")],
    reason: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
    terminal_id: Annotated[str, Form(max_length=64)] = "",
    materials: Annotated[list[str] | None, Form()] = None,
) -> Response:
    def again(status_code: int, key: str, **fields: object) -> Response:
        # The case page again with the reason why, keeping the note the clerk typed.
        kept = {"action": action, "note": note}
        return _case_page(request, application_no, status_code, error=(key, fields), kept=kept)

    if action not in DONE:
        return again(422, "act.unknown")
    asked = materials or []
    if len(asked) > MAX_REQUESTED or not all(_MATERIAL.match(x) for x in asked):
        return again(422, "act.bad_materials", why=f"at most {MAX_REQUESTED} materials")
    if action == "load_result" and Permission.LOAD_RESULTS not in permissions_of(
        list(who.staff.roles)
    ):
        raise Forbidden(Permission.LOAD_RESULTS.value)
    try:
        _service(request).desk.act(
            Actor(who.staff.id, who.staff.username),
            application_no,
            action,
            reason=reason or None,
            note=note,
            version=version,
            key=idempotency_key,
            terminal_id=terminal_id or None,
            materials=asked,
        )
    except VersionConflict as exc:
        t = Wording(language(request))
        last = exc.last
        by = (
            t("act.last", by=last.by, state=t(f"state.{last.to_state}"), at=f"{last.at:%H:%M:%S}")
            if last
            else ""
        )
        return again(409, "act.conflict", seen=exc.seen, current=exc.current, last=by)
    except InvalidTransition as exc:
        t = Wording(language(request))
        return again(409, "act.invalid", state=t(f"state.{exc.state}"))
    except claims.ClaimedByOther as exc:
        return again(409, "act.claimed", by=exc.holder.username)
    except ReasonRequired:
        return again(422, "act.reason_required")
    except BadSupplementRequest as exc:
        return again(422, "act.bad_materials", why=str(exc))
    except KeyReused:
        return again(422, "act.key_reused")
    except NotFound:
        return render(request, "forbidden.html", 404, reason="not_found")
    except WorkflowError as exc:
        return again(409, "act.refused", why=str(exc))
    target = f"/console/applications/{quote(application_no)}?done={action}"
    return RedirectResponse(target, status_code=303)


def _claim_change(request: Request, application_no: str, change) -> Response:
    """Run one claim change in a transaction; the case page again, saying what happened."""
    try:
        with _service(request).db.transaction() as session:
            change(session)
    except NotFound:
        return render(request, "forbidden.html", 404, reason="not_found")
    except claims.ClaimedByOther as exc:
        return _case_page(
            request, application_no, 409, error=("claim.taken", {"by": exc.holder.username})
        )
    except claims.NotHolder:
        return _case_page(request, application_no, 403, error=("claim.not_holder", {}))
    except claims.CannotAssign:
        return _case_page(request, application_no, 422, error=("claim.cannot_assign", {}))
    return RedirectResponse(f"/console/applications/{quote(application_no)}", status_code=303)


@router.post("/applications/{application_no}/claim")
def claim(request: Request, application_no: str, who: Clerk) -> Response:
    """Take an unclaimed case: nobody else acts on it until it is released or reassigned."""
    no = application_no[:64]
    return _claim_change(request, no, lambda s: claims.claim(s, no, who.staff.id, utcnow()))


@router.post("/applications/{application_no}/release")
def release(request: Request, application_no: str, who: Clerk) -> Response:
    """Give a case back to the queue: its holder, or a supervisor for anyone's."""
    no = application_no[:64]
    supervisor = Permission.ASSIGN_CASES in permissions_of(list(who.staff.roles))
    return _claim_change(request, no, lambda s: claims.release(s, no, who.staff.id, supervisor))


@router.post("/applications/{application_no}/assign")
def assign(
    request: Request,
    application_no: str,
    who: Assigner,
    username: Annotated[str, Form(min_length=2, max_length=64)],
) -> Response:
    """A supervisor gives the case to a clerk (or takes it from one)."""
    no = application_no[:64]
    return _claim_change(
        request, no, lambda s: claims.assign(s, no, username, who.staff.id, utcnow())
    )


@router.get("/escalations")
def escalation_board(request: Request, _who: Supervision) -> Response:
    """Open escalations: those the supervisors were told of first, red before yellow."""
    with _service(request).db.reading() as session:
        rows = escalations.board(session)
    return render(request, "escalations.html", rows=rows)


@router.get("/notices")
def notice_list(request: Request, who: NoticeReader) -> Response:
    """The signed-in person's notifications (escalations of their cases), newest first."""
    return _notices_page(request, who)


def _notices_page(request: Request, who: SignedIn, status_code: int = 200, **extra) -> Response:
    with _service(request).db.reading() as session:
        rows = notices.newest(session, who.staff.id)
        me = session.get(StaffAccount, who.staff.id)
        channels = {
            "phone": me.phone or "",
            "email": me.email or "",
            "notify_by": list(me.notify_by or ()),
        }
    return render(request, "notices.html", status_code, rows=rows, channels=channels, **extra)


@router.post("/notices/channels")
def notice_channels(
    request: Request,
    who: NoticeReader,
    phone: Annotated[str, Form(max_length=16)] = "",
    email: Annotated[str, Form(max_length=254)] = "",
    notify_by: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """The signed-in person chooses how deadline notices reach them besides the console."""
    try:
        with _service(request).db.transaction() as session:
            notices.set_channels(
                session, who.staff.id, phone.strip(), email.strip(), notify_by or []
            )
    except notices.ChannelError as exc:
        return _notices_page(request, who, 422, error=exc.key)
    return RedirectResponse("/console/notices?saved=1", status_code=303)


@router.post("/notices/read")
def notices_read(request: Request, who: NoticeReader) -> Response:
    with _service(request).db.transaction() as session:
        notices.mark_all_read(session, who.staff.id, utcnow())
    return RedirectResponse("/console/notices", status_code=303)


@router.get("/statistics")
def statistics_page(request: Request, _who: Statistician, days: int = 30) -> Response:
    """The dashboard: each chart drawn from the table printed under it."""
    service = _service(request)
    days = min(max(days, 1), statistics.MAX_DAYS)
    today = datetime.now(SERVICE_TZ).date()
    with service.db.reading() as session:
        figures = statistics.figures(session, service.calendar, today, days)
    charts = _charts(figures, Wording(language(request)))
    return render(request, "statistics.html", s=figures, days=days, charts=charts)


def _charts(s: dict[str, Any], t: Wording) -> dict[str, Any]:
    """What static/statistics.js draws: for each chart its axis and series, worded."""

    def bars(pairs: list[tuple[Any, int]], kind: str = "bar") -> dict[str, Any]:
        return {
            "x": [str(k) for k, _ in pairs],
            "series": [
                {"name": t("stats.submissions"), "type": kind, "data": [n for _, n in pairs]}
            ],
        }

    p, r = s["processing"], s["ratings"]
    return {
        "per_day": bars(s["per_day"], "line"),
        "per_hour": bars([(f"{h:02d}", n) for h, n in s["per_hour"]]),
        "per_terminal": bars(s["per_terminal"]),
        "per_item": bars(s["per_item"]),
        "processing": {
            "x": [row[0] for row in p["by_item"]],
            "series": [
                {
                    "name": t("stats.median_hours"),
                    "type": "bar",
                    "data": [x[2] for x in p["by_item"]],
                },
                {"name": t("stats.p90_hours"), "type": "bar", "data": [x[3] for x in p["by_item"]]},
            ],
        },
        "ratings": {
            "x": [t(f"rating.{level}") for level, _ in r["levels"]],
            "series": [
                {
                    "name": t("stats.ratings_count"),
                    "type": "bar",
                    "data": [n for _, n in r["levels"]],
                }
            ],
        },
    }


@router.post("/ratings/{application_no}/close")
def close_rating(
    request: Request,
    application_no: str,
    who: RatingCloser,
    note: Annotated[str, Form(min_length=2, max_length=500)],
) -> Response:
    """Record how a low 好差评 score was followed up, and close it (once)."""
    try:
        with _service(request).db.transaction() as session:
            ratings.close_follow_up(
                session, application_no[:64], who.staff.username, note, utcnow()
            )
    except ratings.NotLowScore:
        return render(request, "forbidden.html", 404, reason="not_found")
    return RedirectResponse("/console/statistics#low-scores", status_code=303)


@router.get("/applications/{application_no}/materials/{material_id}")
def material_viewer(
    request: Request, application_no: str, material_id: int, who: Reader, page: int = 1
) -> Response:
    if not ids.possible(material_id):
        return render(request, "forbidden.html", 404, reason="not_found")
    service = _service(request)
    with service.db.reading() as session:
        try:
            row = viewer.material(session, application_no, material_id)
        except NotFound:
            row = None
        else:
            code = row.material_code
            try:
                pages = viewer.page_count(service.blobs, row)
            except viewer.PageUnavailable:
                pages = 0
    if row is None:
        return render(request, "forbidden.html", 404, reason="not_found")
    if pages:
        # Its images are recorded as they are served; this page only reads, and says so when
        # they would be refused rather than show broken images.
        try:
            service.desk.check_scan_view(
                Actor(who.staff.id, who.staff.username), application_no, material_id
            )
        except ViewLimitReached as exc:
            return _view_limit_page(request, exc, application_no)
    page = min(max(page, 1), max(pages, 1))
    template = "viewer_page.html" if request.headers.get("HX-Request") else "viewer.html"
    return render(
        request,
        template,
        application_no=application_no,
        material_id=material_id,
        material_code=code,
        pages=pages,
        page=page,
    )


@router.get("/applications/{application_no}/materials/{material_id}/pages/{index}.png")
def material_page(
    request: Request, application_no: str, material_id: int, index: int, who: Reader
) -> Response:
    """A page of a scan. Who viewed the material is recorded before any page is served (once
    per person and material within ViewLimits.scan_dedupe); 429 past the hour's cap."""
    if not ids.possible(material_id):
        return Response(status_code=404)
    service = _service(request)
    with service.db.reading() as session:
        try:
            viewer.material(session, application_no, material_id)
        except NotFound:
            return Response(status_code=404)
    try:
        service.desk.record_scan_view(
            Actor(who.staff.id, who.staff.username), application_no, material_id
        )
    except ViewLimitReached as exc:
        return Response(
            str(exc),
            status_code=429,
            media_type="text/plain; charset=utf-8",
            headers={"Retry-After": str(exc.retry_after_s)},
        )
    with service.db.reading() as session:
        try:
            row = viewer.material(session, application_no, material_id)
            data = viewer.page_png(service.blobs, row, index - 1)
        except (NotFound, viewer.PageUnavailable):
            return Response(status_code=404)
    return Response(data, media_type="image/png")

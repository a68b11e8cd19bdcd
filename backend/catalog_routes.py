"""REST routes of configuration bundles: push a catalog, a layout, settings; roll back; follow.

Pushing and rolling back need fleet.configure (operators and admins); reading needs fleet.read.
Each push is recorded with the signed-in person and their note.

A bundle carries a catalog only as a published version of the catalog editor, named by its
number (`catalog_version`): changing what citizens are charged and asked for is catalog.edit
work (admins), kept in the editor's history, and publishing is where it happens. Pushing a
published version anywhere is fleet work (and is written to the catalog's history too). A
catalog document of the request's own is refused: 403 naming catalog.edit to whoever may
not publish one, else 422 (publish it in the editor, then push its number).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from cloud_bridge.contract.messages import BundleVersion, TerminalId

from . import catalog_editor as editor
from .auth.guard import Forbidden, require
from .auth.roles import Permission, permissions_of
from .auth.sessions import SignedIn
from .catalog_bundles import BundleRefused, ConfigBundles, status
from .db import Database
from .limits import MAX_ROW_ID, Reason

MAX_BODY_BYTES = 256 * 1024
RAW_CATALOG = (
    "a bundle carries a catalog only as a published version, named by its number"
    " (catalog_version): change and publish the catalog in the catalog editor (catalog.edit)"
)
CatalogNumber = Annotated[
    int | None,
    Field(
        ge=1,
        le=MAX_ROW_ID,
        description="a published catalog version (its number in the catalog editor) to carry",
    ),
]
RawCatalog = Annotated[
    dict[str, Any] | None,
    Field(description="refused: a catalog goes out only as a published version, by number"),
]


def refuse_raw_catalog(who: SignedIn) -> None:
    """A push or rollout that brings a catalog document of its own: Forbidden(catalog.edit)
    for whoever may not publish one, else 422 (publish it first, then push its number)."""
    if Permission.EDIT_CATALOG not in permissions_of(list(who.staff.roles)):
        raise Forbidden(Permission.EDIT_CATALOG.value)
    raise HTTPException(422, RAW_CATALOG)


def published_catalog(db: Database, number: int) -> editor.Published:
    """Published catalog version `number`, or 422 when there is none (a draft is none)."""
    with db.reading() as session:
        version = editor.published(session, number)
    if version is None:
        raise HTTPException(422, f"no published catalog version {number}")
    return version


def record_catalog_push(db: Database, number: int, by: str, target: str, outcome: str) -> None:
    """The push of a published version, in the catalog's history (as the editor's own are)."""
    with db.transaction() as session:
        editor.record_push(session, number, by, target, outcome)


class Targets(BaseModel):
    model_config = ConfigDict(extra="forbid")
    terminals: list[TerminalId] | Literal["all"] = Field(
        description='terminal ids, or "all" for every registered terminal'
    )

    def ids(self) -> list[str] | None:
        return None if self.terminals == "all" else list(self.terminals)


class PushBody(Targets):
    catalog_version: CatalogNumber = None
    catalog: RawCatalog = None
    layout: list[dict[str, Any]] | None = Field(default=None, min_length=1, max_length=200)
    settings: dict[str, Any] | None = None
    version: BundleVersion | None = Field(
        default=None, description="the bundle's version when it carries no catalog"
    )
    note: str = Field(default="", max_length=500)


class RollbackBody(Targets):
    reason: Reason


def catalog_router(db: Database, bundles: ConfigBundles) -> APIRouter:
    router = APIRouter(tags=["fleet"])
    reader = Depends(require(Permission.READ_FLEET))
    configure = Depends(require(Permission.CONFIGURE_FLEET))

    async def small(request: Request) -> None:
        length = request.headers.get("content-length")
        if length is not None and int(length) > MAX_BODY_BYTES:
            raise HTTPException(413, f"a bundle request is at most {MAX_BODY_BYTES} bytes")

    # Signed in first: a stranger is told 401 whatever the size of what it sends.
    @router.post("/api/fleet/bundles", status_code=202, dependencies=[configure, Depends(small)])
    def push(body: PushBody, who: SignedIn = configure) -> dict[str, Any]:
        """Send a bundle (a published catalog version, a layout, settings); the terminals'
        answers follow in GET /api/fleet/bundles."""
        if body.catalog is not None:
            refuse_raw_catalog(who)
        if len(body.terminals) > 5000:
            raise HTTPException(422, 'at most 5000 terminals per push; use "all"')
        number, by = body.catalog_version, who.staff.username
        document = None if number is None else published_catalog(db, number).document
        target = "all" if body.terminals == "all" else " ".join(body.terminals)
        try:
            pushed = bundles.push(
                document,
                body.ids(),
                by,
                body.note,
                layout=body.layout,
                settings=body.settings,
                version=body.version,
            )
        except BundleRefused as exc:
            if number is not None:
                record_catalog_push(db, number, by, target, str(exc))
            raise HTTPException(422, str(exc)) from None
        if number is not None:
            sent = f"sent to {len(pushed.terminals)} terminal(s)"
            record_catalog_push(db, number, by, target, sent)
        return {"version": pushed.version, "terminals": list(pushed.terminals)}

    @router.post("/api/fleet/bundles/rollback", status_code=202)
    def rollback(body: RollbackBody, who: SignedIn = configure) -> dict[str, Any]:
        try:
            pushed = bundles.rollback(body.ids(), who.staff.username, body.reason)
        except BundleRefused as exc:
            raise HTTPException(422, str(exc)) from None
        return {"terminals": list(pushed.terminals)}

    @router.get("/api/fleet/bundles", dependencies=[reader])
    def bundle_status() -> list[dict[str, Any]]:
        with db.reading() as session:
            return status(session)

    return router

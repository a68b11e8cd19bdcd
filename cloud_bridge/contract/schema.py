"""The contract for machines: JSON Schemas, canonical examples, an AsyncAPI 3 document."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from . import messages as m
from . import topics

_T = "T0001"
_AT = datetime(2026, 11, 20, 21, 30, tzinfo=UTC)
_SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def _ids(n: int) -> str:
    return f"{n:032x}"


def examples() -> dict[str, m.Message]:
    """One canonical example per message type, keyed by type name."""
    common = {"terminal_id": _T, "sent_at": _AT}
    items: list[m.Message] = [
        m.Status(
            message_id=_ids(1),
            state="online",
            software_version="0.1.0",
            since=_AT,
            connection=1,
            keepalive_s=30,
            **common,
        ),
        m.Telemetry(
            message_id=_ids(2),
            uptime_s=3600,
            outbox_backlog=0,
            compartments={"empty": 6, "holding_result": 2, "holding_deposit": 1},
            devices={
                "lock_board": m.DeviceHealth(ok=True, detail="16 channels"),
                "printer": m.DeviceHealth(
                    ok=True,
                    detail="paper low",
                    data={"driver": "escpos", "online": True, "paper": "low", "printed": 212},
                ),
            },
            disk_free_bytes=48_000_000_000,
            disk_total_bytes=64_000_000_000,
            config_version="builtin",
            service=m.ServiceState(
                compartments={
                    "A03": m.ServiceEntry(
                        hold="locked",
                        reason="device_fault",
                        note="door sensor reads open while shut",
                        since=datetime(2026, 11, 20, 21, 10, tzinfo=UTC),
                        command_id=_ids(46),
                    )
                }
            ),
            **common,
        ),
        m.ApplicationSubmitted(
            message_id=_ids(3),
            operation_id="AH-T0001-20261120-0001",
            application_no="AH-T0001-20261120-0001",
            item_code="HJ-0101",
            applicant=m.Applicant(
                name="张三",
                id_document_type="cn_resident_id",
                id_number="11010519491231002X",
                phone="13800138000",
            ),
            identity=m.IdentityDecision(
                method="face",
                verified=True,
                face_distance=0.38,
                threshold=0.5,
                liveness_passed=True,
            ),
            materials=[
                m.MaterialRef(
                    material_code="household-register",
                    sha256=_SHA,
                    size=81234,
                    content_type="application/pdf",
                    pages=2,
                    valid_until=date(2027, 5, 20),
                )
            ],
            reused_materials=[
                m.ReusedMaterial(material_code="id-card-copy", reference="MAT-4f1c2a9e0b7d3c65")
            ],
            deposit_expected=True,
            submitted_at=_AT,
            promised_days=3,
            catalog_version="builtin-2026.12",
            **common,
        ),
        m.MaterialsDeposited(
            message_id=_ids(4),
            operation_id="AH-T0001-20261120-0001",
            application_no="AH-T0001-20261120-0001",
            compartment_id="A03",
            deposited_at=_AT,
            **common,
        ),
        m.ResultLoaded(
            message_id=_ids(5),
            operation_id="L-7f3a9c",
            load_id="L-7f3a9c",
            application_no="AH-T0001-20261120-0001",
            compartment_id="A05",
            loaded_at=_AT,
            **common,
        ),
        m.ResultPickedUp(
            message_id=_ids(6),
            operation_id="L-7f3a9c",
            load_id="L-7f3a9c",
            application_no="AH-T0001-20261120-0001",
            compartment_id="A05",
            picked_up_at=_AT,
            **common,
        ),
        m.Alarm(
            message_id=_ids(7),
            operation_id="ALM-T0001-0007",
            kind="wrong_code_limit",
            severity="warning",
            detail="5 wrong pickup codes in a row",
            raised_at=_AT,
            **common,
        ),
        m.BlobChunk(
            message_id=_ids(8),
            sha256=_SHA,
            index=0,
            count=2,
            total_size=81234,
            data="JVBERi0xLjQK",
            **common,
        ),
        m.LoadResult(
            message_id=_ids(9),
            operation_id="L-7f3a9c",
            load_id="L-7f3a9c",
            application_no="AH-T0001-20261120-0001",
            size="M",
            expires_at=datetime(2026, 11, 21, 21, 30, tzinfo=UTC),
            item_code="GS-0307",
            holder_ref="5d1b3c0e9a7f24681357acef02468ace13579bdf02468ace13579bdf0246a8c1",
            **common,
        ),
        m.SetPickupCode(
            message_id=_ids(10),
            operation_id="L-7f3a9c#1",
            load_id="L-7f3a9c",
            application_no="AH-T0001-20261120-0001",
            code_digest="3b7e72edbc2a2e5b3f0c1f6c3c1e0a8a4b1c9d2e7f6a5b4c3d2e1f0a9b8c7d6e",
            code_expires_at=datetime(2026, 11, 27, 21, 30, tzinfo=UTC),
            expires_at=datetime(2026, 11, 21, 21, 30, tzinfo=UTC),
            **common,
        ),
        m.WithdrawResult(
            message_id=_ids(11),
            operation_id="L-7f3a9c#withdraw",
            load_id="L-7f3a9c",
            application_no="AH-T0001-20261120-0001",
            expires_at=datetime(2026, 11, 21, 21, 30, tzinfo=UTC),
            **common,
        ),
        m.ApplyConfigBundle(
            message_id=_ids(40),
            operation_id="dongcheng-2026.12-3",
            bundle_version="dongcheng-2026.12-3",
            catalog={
                "version": "dongcheng-2026.12-3",
                "class": [{"code": "SB", "name_zh": "社会保险", "name_en": "Social insurance"}],
                "material": {
                    "id-card-copy": {"name_zh": "身份证复印件", "name_en": "Copy of ID card"}
                },
                "item": [
                    {
                        "code": "SB-0203",
                        "name_zh": "社保参保证明",
                        "name_en": "Social insurance enrolment certificate",
                        "fee_fen": 0,
                        "legal_days": 3,
                        "promised_days": 1,
                        "materials": [{"ref": "id-card-copy"}],
                    }
                ],
            },
            expires_at=datetime(2026, 11, 21, 21, 30, tzinfo=UTC),
            **common,
        ),
        m.RollbackConfigBundle(
            message_id=_ids(41),
            operation_id="rollback-dongcheng-2026.12-3",
            reason="a fee was wrong in 2026.12-3",
            expires_at=datetime(2026, 11, 21, 21, 30, tzinfo=UTC),
            **common,
        ),
        m.OpenCompartment(
            message_id=_ids(42),
            operation_id="OPS-5e2a91c04b7d",
            compartment_id="A05",
            reason="door reported jammed by the night guard",
            expires_at=datetime(2026, 11, 20, 21, 45, tzinfo=UTC),
            **common,
        ),
        m.RestartKiosk(
            message_id=_ids(43),
            operation_id="OPS-7c1d3e5f9a0b",
            reason="screen frozen on the receipt page",
            expires_at=datetime(2026, 11, 20, 21, 45, tzinfo=UTC),
            **common,
        ),
        m.ResyncState(
            message_id=_ids(44),
            operation_id="OPS-0a9b8c7d6e5f",
            expires_at=datetime(2026, 11, 20, 21, 45, tzinfo=UTC),
            **common,
        ),
        m.FetchDiagnostics(
            message_id=_ids(45),
            operation_id="OPS-1f2e3d4c5b6a",
            expires_at=datetime(2026, 11, 20, 21, 45, tzinfo=UTC),
            **common,
        ),
        m.OutOfService(
            message_id=_ids(46),
            operation_id="OPS-5e6f7a8b9c0d",
            compartment_id="A03",
            hold="locked",
            reason="device_fault",
            note="door sensor reads open while shut",
            expires_at=datetime(2026, 11, 21, 21, 30, tzinfo=UTC),
            **common,
        ),
        m.BackInService(
            message_id=_ids(47),
            operation_id="OPS-9a8b7c6d5e4f",
            compartment_id="A03",
            reason="repaired",
            note="sensor replaced",
            expires_at=datetime(2026, 11, 21, 21, 30, tzinfo=UTC),
            **common,
        ),
        m.UpdateSoftware(
            message_id=_ids(60),
            operation_id="rollout-7",
            version="0.2.0",
            archive_url="https://releases.example.gov.cn:8444/allhours-0.2.0.tar.gz",
            sha256=_SHA,
            size_bytes=48_213_504,
            expires_at=datetime(2026, 11, 21, 6, 0, tzinfo=UTC),
            backend_keys=[
                "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            ],
            **common,
        ),
        m.SoftwareUpdated(
            message_id=_ids(61),
            operation_id="rollout-7",
            version="0.2.0",
            ok=False,
            running="0.1.0",
            rolled_back=True,
            detail="0.2.0 unhealthy (screens: font for Chinese not found); rolled back to 0.1.0",
            **common,
        ),
        m.CommandAck(
            message_id=_ids(12),
            command_id=_ids(9),
            command_type="command.load_result",
            operation_id="L-7f3a9c",
            outcome="done",
            result={"compartment_id": "A05"},
            **common,
        ),
        m.Settlement(
            message_id=_ids(13),
            items=[
                m.ReceiptItem(message_id=_ids(3), outcome="stored"),
                m.ReceiptItem(message_id=_ids(8), outcome="duplicate"),
            ],
            **common,
        ),
        m.MaterialsOnFileQuery(
            message_id=_ids(14),
            operation_id="AH-T0001-20261120-0001#on-file",
            applicant_ref="5d1b3c0e9a7f24681357acef02468ace13579bdf02468ace13579bdf0246a8c1",
            material_codes=["id-card-copy", "household-register"],
            expires_at=datetime(2026, 11, 20, 21, 30, 10, tzinfo=UTC),
            **common,
        ),
        m.MaterialsOnFile(
            message_id=_ids(15),
            operation_id="AH-T0001-20261120-0001#on-file",
            request_id=_ids(14),
            materials=[
                m.OnFileMaterial(
                    material_code="id-card-copy",
                    reference="MAT-4f1c2a9e0b7d3c65",
                    content_type="application/pdf",
                    pages=1,
                    valid_until=date(2036, 3, 1),
                    captured_on=date(2026, 9, 14),
                )
            ],
            expires_at=datetime(2026, 11, 20, 21, 30, 10, tzinfo=UTC),
            **common,
        ),
        m.ServiceRated(
            message_id=_ids(16),
            operation_id="AH-T0001-20261120-0001#rating",
            application_no="AH-T0001-20261120-0001",
            score=2,
            reasons=["waiting", "unclear_guidance"],
            rated_at=_AT,
            **common,
        ),
        m.ApplicationStatusQuery(
            message_id=_ids(17),
            operation_id="STATUS-5e0c9a1f7b3d",
            application_no="AH-T0001-20261120-0001",
            phone_tail="8000",
            expires_at=datetime(2026, 11, 20, 21, 30, 10, tzinfo=UTC),
            **common,
        ),
        m.ApplicationStatus(
            message_id=_ids(18),
            operation_id="STATUS-5e0c9a1f7b3d",
            request_id=_ids(17),
            found=True,
            state="ready_for_pickup",
            since=datetime(2026, 11, 24, 3, 12, tzinfo=UTC),
            item_code="HJ-0101",
            submitted_on=date(2026, 11, 21),
            promised_by=date(2026, 11, 26),
            supplements=[
                m.SupplementDue(material_code="household-register", due_on=date(2026, 11, 30))
            ],
            requested=[],
            pickup_terminal_id="T0001",
            expires_at=datetime(2026, 11, 20, 21, 30, 10, tzinfo=UTC),
            **common,
        ),
        m.DepositCollected(
            message_id=_ids(19),
            operation_id="AH-T0001-20261120-0001#collected",
            application_no="AH-T0001-20261120-0001",
            compartment_id="A03",
            collected_at=datetime(2026, 11, 23, 1, 5, tzinfo=UTC),
            staff_sign_in="STAFF-3c9e1a7f5b2d8e40",
            **common,
        ),
        m.SupplementProvided(
            message_id=_ids(22),
            operation_id="SUP-9b4e2c7a1f3d6e80",
            application_no="AH-T0001-20261120-0001",
            phone_tail="8000",
            materials=[
                m.MaterialRef(
                    material_code="household-register",
                    sha256="4f" * 32,
                    size=201_733,
                    content_type="application/pdf",
                    pages=2,
                )
            ],
            provided_at=datetime(2026, 11, 23, 13, 5, tzinfo=UTC),
            **common,
        ),
        m.StaffSignInQuery(
            message_id=_ids(20),
            operation_id="STAFF-3c9e1a7f5b2d8e40",
            code="48213907",
            expires_at=datetime(2026, 11, 20, 21, 30, 10, tzinfo=UTC),
            **common,
        ),
        m.StaffSignIn(
            message_id=_ids(21),
            operation_id="STAFF-3c9e1a7f5b2d8e40",
            request_id=_ids(20),
            accepted=True,
            username="clerk.wang",
            display_name="王芳",
            expires_at=datetime(2026, 11, 20, 21, 30, 10, tzinfo=UTC),
            **common,
        ),
        m.OwingApplicationsQuery(
            message_id=_ids(40),
            operation_id="OWING-2b7d9e4f1a3c",
            applicant_ref="5d1b3c0e9a7f24681357acef02468ace13579bdf02468ace13579bdf0246a8c1",
            expires_at=datetime(2026, 11, 23, 13, 0, 10, tzinfo=UTC),
            **common,
        ),
        m.OwingApplications(
            message_id=_ids(41),
            operation_id="OWING-2b7d9e4f1a3c",
            request_id=_ids(40),
            applications=[
                m.OwingApplication(
                    application_no="AH-T0001-20261120-0001",
                    item_code="HJ-0101",
                    state="under_review",
                    submitted_on=date(2026, 11, 21),
                    supplements=[
                        m.SupplementDue(
                            material_code="household-register", due_on=date(2026, 11, 30)
                        )
                    ],
                )
            ],
            more=False,
            expires_at=datetime(2026, 11, 23, 13, 0, 10, tzinfo=UTC),
            **common,
        ),
    ]
    return {m.type_name(type(x)): x for x in items}


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema (draft 2020-12) of every message type, keyed by type name."""
    out = {}
    for cls in m.ALL_TYPES:
        schema = cls.model_json_schema(mode="serialization")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://allhours.example/schemas/v1/{m.type_name(cls)}.json"
        out[m.type_name(cls)] = schema
    return out


def topic_template(cls: type[m.Message]) -> str:
    """The topic of a message type with `{terminal_id}` left as a parameter."""
    if cls.channel == topics.EVENTS:
        kind = m.type_name(cls).removeprefix("event.")
        return f"{topics.ROOT}/terminals/{{terminal_id}}/events/{kind}"
    return f"{topics.ROOT}/terminals/{{terminal_id}}/{cls.channel}"


def direction(cls: type[m.Message]) -> str:
    return "terminal→backend" if cls.channel in topics.UPSTREAM else "backend→terminal"


def asyncapi_document() -> dict[str, Any]:
    """An AsyncAPI 3.0 document of the whole v1 contract."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    components: dict[str, Any] = {"messages": {}, "schemas": {}}
    ex = examples()
    for cls in m.ALL_TYPES:
        name = m.type_name(cls)
        key = name.replace(".", "_")
        schema = cls.model_json_schema(
            mode="serialization", ref_template="#/components/schemas/{model}"
        )
        for def_name, definition in schema.pop("$defs", {}).items():
            components["schemas"][def_name] = definition
        title = schema["title"]  # the class name, or the wire name a renamed class keeps
        components["schemas"][title] = schema
        retained = cls is m.Status
        components["messages"][key] = {
            "name": name,
            "title": title,
            "summary": (cls.__doc__ or "").strip().splitlines()[0],
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{title}"},
            "examples": [{"payload": json.loads(ex[name].encode())}],
        }
        channels[key] = {
            "address": topic_template(cls),
            "parameters": {"terminal_id": {"description": "the terminal id, also its MQTT user"}},
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
        }
        # MQTT binding 0.2.0 puts qos and retain on the operation; commands also carry an
        # MQTT 5 message expiry, set per command from its `expires_at`.
        # Seen from the terminal: it sends upstream messages and receives downstream ones.
        operations[f"{key}_op"] = {
            "action": "send" if cls.channel in topics.UPSTREAM else "receive",
            "channel": {"$ref": f"#/channels/{key}"},
            "bindings": {"mqtt": {"bindingVersion": "0.2.0", "qos": 1, "retain": retained}},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "allhours terminal ⇄ backend contract",
            "version": "1.0.0",
            "description": "Generated from cloud_bridge.contract; see docs/protocol.md.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": components,
    }


def export(directory: Path) -> list[Path]:
    """Write asyncapi.json, one schema per type and one example per type under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []

    def dump(path: Path, data: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
        written.append(path)

    dump(directory / "asyncapi.json", asyncapi_document())
    for name, schema in json_schemas().items():
        dump(directory / "schemas" / f"{name}.json", schema)
    for name, message in examples().items():
        dump(directory / "examples" / f"{name}.json", json.loads(message.encode()))
    return written

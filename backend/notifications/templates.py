"""Message kinds, their registered templates (id, named variables, wording) and reason codes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    SUPPLEMENT_DUE = "supplement_due"  # 容缺 reminder
    APPROVED = "approved"
    REJECTED = "rejected"
    PICKUP_CODE = "pickup_code"
    CODE_EXPIRING = "code_expiring"
    PICKED_UP = "picked_up"
    RETURNED = "returned"
    FLEET_ALARM = "fleet_alarm"  # to the on-duty operator, not to a citizen
    STAFF_DEADLINE = "staff_deadline"  # to a clerk: a case's deadline warning
    STAFF_SUPERVISE = "staff_supervise"  # to a supervisor: nobody acted on the warning


# Variables whose values must never rest in clear: sealed while held, erased once accepted.
SECRET_VARIABLES = frozenset({"code"})

# Alibaba Cloud caps a notification template variable at 35 characters; we stay well inside.
MAX_VARIABLE_CHARS = 35
_VARIABLE_VALUE = re.compile(r"^[0-9A-Za-z\u4e00-\u9fff:_\- ]{1,35}$")


@dataclass(frozen=True)
class Template:
    """One registered template: the provider's id, its variables and the wording registered."""

    kind: Kind
    template_code: str
    variables: tuple[str, ...]
    wording: str  # as registered with the provider, ${name} for each variable


# What a reject or supplement SMS says when the step came without a reason from a fixed list.
DEFAULT_REASON = "详情请致电窗口"

# The wording to register with the provider, the same for every provider (docs list it).
WORDING: dict[Kind, tuple[tuple[str, ...], str]] = {
    Kind.SUBMITTED: (("no",), "您的申请${no}已提交，我们将在工作日受理，请留意短信。"),
    Kind.ACCEPTED: (("no",), "您的申请${no}已受理，正在审核。"),
    Kind.SUPPLEMENT_REQUESTED: (
        ("no", "materials", "reason"),
        "您的申请${no}需补正材料：${materials}，原因：${reason}。请凭申请号到任一自助终端补交。",
    ),
    Kind.SUPPLEMENT_DUE: (("no", "date"), "您的申请${no}有容缺材料，请于${date}前补交。"),
    Kind.APPROVED: (("no",), "您的申请${no}已办结，结果放入自助柜后将另发取件码。"),
    Kind.REJECTED: (("no", "reason"), "您的申请${no}未通过，原因：${reason}。"),
    Kind.PICKUP_CODE: (
        ("no", "terminal", "code", "expires"),
        "申请${no}的结果已放入${terminal}号自助柜，取件码${code}，${expires}前有效，请勿告诉他人。",
    ),
    Kind.CODE_EXPIRING: (
        ("no", "terminal", "expires"),
        "申请${no}的结果仍在${terminal}号自助柜，取件码将于${expires}失效，逾期将退回窗口。",
    ),
    Kind.PICKED_UP: (("no",), "申请${no}的结果已取走。如非本人操作请致电服务窗口。"),
    Kind.RETURNED: (("no",), "申请${no}的结果已退回服务窗口，请到窗口领取。"),
    Kind.FLEET_ALARM: (
        ("terminal", "kind"),
        "自助终端${terminal}告警：${kind}，请登录运维控制台确认处理。",
    ),
    Kind.STAFF_DEADLINE: (
        ("no", "step", "colour"),
        "审批提醒：申请${no}的${step}时限${colour}，请登录审批控制台办理。",
    ),
    Kind.STAFF_SUPERVISE: (
        ("no", "step", "colour"),
        "督办提醒：申请${no}的${step}时限${colour}且无人办理，请登录审批控制台督办。",
    ),
}


class TemplateError(ValueError):
    """A message that does not fit its registered template (unknown kind, variable or value)."""


@dataclass(frozen=True)
class TemplateTable:
    """One provider's registered signature and template ids: configuration, checked at start."""

    sign_name: str
    templates: dict[Kind, Template]

    @classmethod
    def of(cls, sign_name: str, codes: dict[str, str]) -> TemplateTable:
        """A table from kind name -> template code; every kind needs one."""
        unknown = set(codes) - {k.value for k in Kind}
        if unknown:
            raise TemplateError(f"unknown message kinds in the template table: {sorted(unknown)}")
        missing = [k.value for k in Kind if k.value not in codes]
        if missing:
            raise TemplateError(f"no template code configured for: {missing}")
        if not sign_name or len(sign_name) > 12:
            raise TemplateError("sign_name must be 1-12 characters (the registered 签名)")
        return cls(
            sign_name,
            {k: Template(k, codes[k.value], WORDING[k][0], WORDING[k][1]) for k in Kind},
        )


def check_params(kind: Kind, values: dict[str, str]) -> dict[str, str]:
    """The kind's variables exactly, each value bounded and plain; TemplateError otherwise."""
    variables = WORDING[kind][0]
    if set(values) != set(variables):
        raise TemplateError(f"{kind} takes {variables}, got {tuple(sorted(values))}")
    for name, value in values.items():
        if not isinstance(value, str) or not _VARIABLE_VALUE.fullmatch(value):
            raise TemplateError(f"{kind}: variable {name} is empty, too long or has symbols")
    return dict(values)


def render(template: Template, sign_name: str, values: dict[str, str]) -> str:
    """The text a handset shows: 【signature】 plus the wording with the variables filled."""
    text = template.wording
    for name in template.variables:
        text = text.replace("${" + name + "}", values[name])
    return f"【{sign_name}】{text}"


# The project's default table: the demo and tests register these ids at the emulator.
DEFAULT_CODES = {k.value: f"SMS_90000{i:03d}" for i, k in enumerate(Kind, start=1)}
DEFAULT_TABLE = TemplateTable.of("自助服务", DEFAULT_CODES)

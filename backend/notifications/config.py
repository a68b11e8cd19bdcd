"""The SMS provider from the environment; every key named in the error when one is wrong."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from ..sms import SmsProvider
from .aliyun import DEFAULT_ENDPOINT, AliyunSettings, AliyunSms
from .templates import TemplateError, TemplateTable


class ConfigError(ValueError):
    """A missing or bad notification setting; the message names the key."""


def provider_from_env(env: Mapping[str, str] | None = None) -> SmsProvider | None:
    """ALLHOURS_SMS_PROVIDER=aliyun and its keys, or None when no provider is configured."""
    env = os.environ if env is None else env
    name = env.get("ALLHOURS_SMS_PROVIDER", "").strip()
    if not name:
        return None
    if name != "aliyun":
        raise ConfigError(f"ALLHOURS_SMS_PROVIDER: unknown provider {name!r} (aliyun)")

    def need(key: str) -> str:
        value = env.get(key, "").strip()
        if not value:
            raise ConfigError(f"{key} is required with ALLHOURS_SMS_PROVIDER=aliyun")
        return value

    return AliyunSms(
        AliyunSettings(
            access_key_id=need("ALLHOURS_ALIYUN_ACCESS_KEY_ID"),
            access_key_secret=need("ALLHOURS_ALIYUN_ACCESS_KEY_SECRET"),
            table=template_table(need("ALLHOURS_SMS_SIGN_NAME"), need("ALLHOURS_SMS_TEMPLATES")),
            endpoint=env.get("ALLHOURS_ALIYUN_ENDPOINT", DEFAULT_ENDPOINT),
        )
    )


def template_table(sign_name: str, path: str) -> TemplateTable:
    """The registered template ids from a JSON file {kind: template code}."""
    try:
        codes = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(codes, dict) or not all(isinstance(v, str) for v in codes.values()):
            raise ConfigError(f"ALLHOURS_SMS_TEMPLATES: {path} must map each kind to a code")
        return TemplateTable.of(sign_name, codes)
    except (OSError, ValueError, RecursionError) as exc:
        if isinstance(exc, ConfigError):
            raise
        what = (
            "ALLHOURS_SMS_SIGN_NAME"
            if isinstance(exc, TemplateError) and "sign" in str(exc)
            else f"ALLHOURS_SMS_TEMPLATES: {path}"
        )
        raise ConfigError(f"{what}: {exc}") from None

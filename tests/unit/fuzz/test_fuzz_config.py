"""Configurations and bundles, hostile: each parser keeps or refuses with its own error.

- a catalog document (a bundle's catalog, the console editor's saves, `allhours catalog
  check`): `parse_catalog` gives a Catalog or raises CatalogError;
- a bundle's layout and remote settings: `check_layout` and `check_settings` give checked
  entries or raise ConfigRefused;
- the terminal's settings file: `load_settings` gives TerminalSettings or raises SettingsError;
- a locker file: `load_locker_config` gives a LockerConfig or raises LockerConfigError.

Anything else escaping (a TypeError, a ValueError from a path, a RecursionError) would reach the
operator as a traceback, or stop a kiosk at start. The documents are the shipped ones with one
value replaced, one key added or one removed, at any depth, by any value the format can carry,
so most of each stays valid and the checks past the first are reached; files are written as
TOML text and read back through the real loaders.

Last, files that are no document at all, through every loader of a file an operator or the
terminal writes: thousands of nested arrays or tables (tomllib and json recurse, and the
RecursionError escaped all of them) and bytes that are not UTF-8.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from allhours.cli import main
from allhours.devices_config import DevicesConfigError, load_devices
from allhours.headless import ScriptError, load_script
from allhours.settings import SettingsError, TerminalSettings, load_settings
from backend.notifications.config import ConfigError, template_table
from backend.settings import BackendSettingsError, load_backend_settings
from backend.workdays import WorkingDayCalendar
from cloud_bridge.contract.catalog import (
    BUILTIN_PATH,
    Catalog,
    CatalogError,
    load_catalog,
    parse_catalog,
)
from cloud_bridge.contract.config_parts import ConfigRefused, check_layout, check_settings
from cloud_bridge.contract.messages import utcnow
from locker.config import LockerConfigError, load_locker_config
from provisioning.bundle import IdentityError, TerminalIdentity
from provisioning.tls import ClientTls

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"
CATALOG = tomllib.loads(BUILTIN_PATH.read_text(encoding="utf-8"))
TERMINAL = tomllib.loads((EXAMPLES / "terminal.toml").read_text(encoding="utf-8"))
LOCKERS = {
    name: tomllib.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    for name in ("locker-rs485.toml", "locker-usbrelay.toml", "locker-emulated.toml")
}
LAYOUT = [
    {"id": "A01", "size": "S", "board": "main", "channel": 1, "door": "same"},
    {"id": "A02", "size": "M", "channel": 2, "door": {"board": "main", "input": 2}},
    {"id": "A03", "size": "L", "board": "side", "channel": 1, "pulse_ms": 300},
]
BOARDS = {"main": 8, "side": None}
SETTINGS = {"kiosk": {"lang": "en", "idle_timeout_s": 60, "hotline": "0571-12345"}}

_keys = st.text(min_size=1, max_size=12)
# Words the parsers know, and the strings that break paths, numbers and lengths.
_words = st.sampled_from(
    ["", " ", "\x00", "a\x00b", "..", "/", "\n", "x" * 300, "0", "-1", "1e999", "nan", "true",
     "S", "L", "same", "none", "main", "zh", "en", "rs485", "usbrelay", "emulated", "usb://0:0"]
)  # fmt: skip
_toml_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.text(max_size=40),
    _words,
)
# What a TOML file can say (no null; 64-bit integers), and what JSON on the wire can say.
toml_values = st.recursive(
    _toml_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)
json_values = st.recursive(
    st.none() | _toml_scalars | st.integers(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)


def _places(doc: Any, path: tuple = ()) -> list[tuple]:
    """Every place in `doc`: the path of each container and each value."""
    found = [path]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _places(value, (*path, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += _places(value, (*path, index))
    return found


@st.composite
def mutated(draw, original: Any, values: st.SearchStrategy) -> Any:
    """`original` with one value replaced, one key added or one removed, anywhere below it."""
    doc = copy.deepcopy(original)
    path = draw(st.sampled_from(_places(doc)[1:]))
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    action = draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "replace":
        parent[last] = draw(_words | values)
    elif action == "remove":
        del parent[last]
    elif isinstance(parent, dict):
        parent[draw(_keys)] = draw(values)
    else:
        parent.insert(last, draw(values))
    return doc


def toml_text(doc: dict[str, Any]) -> str:
    """`doc` as TOML: every key quoted, every table inline."""
    return "".join(f"{_string(k)} = {_literal(v)}\n" for k, v in doc.items())


def _string(text: str) -> str:
    # JSON's escapes are TOML's; DEL must be escaped in TOML and is not in JSON.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return "{" + ", ".join(f"{_string(k)} = {_literal(v)}" for k, v in value.items()) + "}"


def test_the_toml_writer_reads_back_as_written():
    doc = {"a b": {"x": [1, 2.5, 'q"\x00\x7f'], "y": {}}, "n": -(2**63), "t": True}
    assert tomllib.loads(toml_text(doc)) == doc
    assert tomllib.loads(toml_text(TERMINAL)) == TERMINAL


@given(mutated(CATALOG, json_values))
def test_any_catalog_document_is_parsed_or_refused(doc):
    try:
        catalog = parse_catalog(doc)
    except CatalogError as exc:
        assert str(exc)
    else:
        assert isinstance(catalog, Catalog)


@given(st.one_of(json_values, mutated(LAYOUT, json_values)))
def test_any_bundle_layout_is_checked_or_refused(doc):
    try:
        entries = check_layout(doc, BOARDS)
    except ConfigRefused as exc:
        assert str(exc).startswith("layout")
        return
    assert len({e.id for e in entries}) == len(entries)
    assert len({(e.board, e.channel) for e in entries}) == len(entries)
    doors = [e.door for e in entries if e.door is not None]
    assert len(set(doors)) == len(doors)
    assert all(e.id.isprintable() for e in entries)  # printed on the compartment and receipts
    for e in entries:
        limit = BOARDS[e.board]
        assert e.channel >= 1 and (limit is None or e.channel <= limit)


@given(st.one_of(json_values, mutated(SETTINGS, json_values)))
def test_any_bundle_settings_are_checked_or_refused(doc):
    try:
        checked = check_settings(doc)
    except ConfigRefused as exc:
        assert str(exc).startswith("settings")
        return
    assert set(checked) <= {"kiosk", "link"}
    for section, values in checked.items():
        assert set(values) == set(doc[section])


@given(mutated(TERMINAL, toml_values))
def test_any_settings_file_is_loaded_or_refused(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("settings") / "terminal.toml"
    path.write_text(toml_text(doc), encoding="utf-8")
    try:
        settings = load_settings(path)
    except SettingsError as exc:
        assert str(path) in str(exc)
    else:
        assert isinstance(settings, TerminalSettings)
        assert all("\x00" not in str(p) for p in (settings.data_dir, settings.devices))


@pytest.mark.parametrize("name", sorted(LOCKERS))
@given(data=st.data())
def test_any_locker_file_is_loaded_or_refused(tmp_path_factory, name, data):
    doc = data.draw(mutated(LOCKERS[name], toml_values))
    path = tmp_path_factory.mktemp("locker") / name
    path.write_text(toml_text(doc), encoding="utf-8")
    try:
        config = load_locker_config(path)
    except LockerConfigError as exc:
        assert str(exc)
    else:
        # What it names is opened (ports, the journal) or shown (ids) later: no control
        # character gets that far.
        assert all(text.isprintable() for text in _texts(config))


def _texts(value: Any) -> list[str]:
    if dataclasses.is_dataclass(value):
        return [t for f in dataclasses.fields(value) for t in _texts(getattr(value, f.name))]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _texts(v)]
    return [str(value)] if isinstance(value, str | Path) else []


# What the properties above found, kept as plain tests.


def test_a_layout_naming_a_board_by_a_list_is_refused_not_a_type_error():
    with pytest.raises(ConfigRefused, match="layout: A01: no lock board"):
        check_layout([{"id": "A01", "size": "S", "board": ["main"], "channel": 1}], BOARDS)
    door = {"board": ["main"], "input": 1}
    with pytest.raises(ConfigRefused, match='layout: A01: door is "none", "same"'):
        check_layout([{"id": "A01", "size": "S", "channel": 1, "door": door}], BOARDS)


def test_a_settings_file_with_a_nul_in_a_path_is_refused_naming_the_key(tmp_path):
    path = tmp_path / "terminal.toml"
    path.write_text('data_dir = "var\\u0000x"\nemulate = true\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="data_dir: a path has no NUL character"):
        load_settings(path)


def test_a_locker_file_with_a_control_character_in_a_name_is_refused(tmp_path):
    doc = copy.deepcopy(LOCKERS["locker-rs485.toml"])
    doc["locker"]["board"][0]["port"] = "/dev/ttyUSB0\x00"
    path = tmp_path / "locker.toml"
    path.write_text(toml_text(doc), encoding="utf-8")
    with pytest.raises(LockerConfigError, match="port has a control character"):
        load_locker_config(path)


# Files that are no document at all.

TOML_GARBAGE = {
    "nested arrays": b"a = " + b"[" * 3000 + b"]" * 3000 + b"\n",
    "nested tables": b"a = " + b"{b = " * 3000 + b"1" + b"}" * 3000 + b"\n",
    "not UTF-8": b'a = "\xff\xfe"\n',
}
JSON_GARBAGE = {
    "nested arrays": b"[" * 3000 + b"]" * 3000,
    "nested objects": b'{"a": ' * 3000 + b"1" + b"}" * 3000,
    "not UTF-8": b'{"a": "\xff"}',
}


def _identity(path: Path) -> None:
    # The enrollment a terminal keeps: bundle.json beside its certificate.
    ClientTls.in_dir(path.parent).cert_file.write_bytes(b"")
    TerminalIdentity.load(path.parent.parent, utcnow())


def _doctor(path: Path) -> None:
    # `allhours doctor` reads the devices file the settings name, for the locker file it names.
    settings = path.with_name("terminal.toml")
    settings.write_text(f'data_dir = "{path.parent}"\ndevices = "{path.name}"\n')
    code = main(["doctor", "--settings", str(settings)])
    assert code == 2
    raise SettingsError("exit 2")


# Each loader, the name it gives its file, and the error it refuses with.
LOADERS = {
    "terminal settings": ("terminal.toml", load_settings, SettingsError),
    "backend settings": ("backend.toml", load_backend_settings, BackendSettingsError),
    "locker file": ("locker.toml", load_locker_config, LockerConfigError),
    "devices file": ("devices.toml", load_devices, DevicesConfigError),
    "headless script": ("script.toml", load_script, ScriptError),
    "catalog (TOML)": ("catalog.toml", load_catalog, CatalogError),
    "doctor's devices file": ("devices.toml", _doctor, SettingsError),
    "catalog (JSON)": ("catalog.json", load_catalog, CatalogError),
    "holiday file": ("holidays.json", WorkingDayCalendar.from_file, ValueError),
    "SMS templates": ("templates.json", lambda p: template_table("allhours", str(p)), ConfigError),
    "enrollment bundle": ("identity/bundle.json", _identity, IdentityError),
}


@pytest.mark.parametrize(
    ("loader", "garbage"),
    [
        (loader, garbage)
        for loader, (name, _load, _error) in LOADERS.items()
        for garbage in (TOML_GARBAGE if name.endswith(".toml") else JSON_GARBAGE)
    ],
)
def test_a_file_that_is_no_document_is_refused_by_its_loader(tmp_path, capsys, loader, garbage):
    name, load, error = LOADERS[loader]
    path = tmp_path / name
    path.parent.mkdir(exist_ok=True)
    data = (TOML_GARBAGE if name.endswith(".toml") else JSON_GARBAGE)[garbage]
    path.write_bytes(data)
    with pytest.raises(error) as refused:
        load(path)
    said = capsys.readouterr().err if loader == "doctor's devices file" else str(refused.value)
    # The operator is told which file, and why: nested too deep, or not UTF-8.
    assert path.name in said
    assert ("recursion" in said) if garbage != "not UTF-8" else ("utf-8" in said)

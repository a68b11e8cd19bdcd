"""Loading a WLT photo decoder from configuration, and checking what it returns."""

from __future__ import annotations

import sys
from pathlib import Path

import cnid_wlt_plugin
import pytest

from devices.identity.cnid.wlt import (
    ENTRY_POINT_GROUP,
    WltDecoderError,
    decode_photo,
    image_format,
    load_wlt_decoder,
)


def test_no_spec_means_no_decoder() -> None:
    assert load_wlt_decoder(None) is None
    assert load_wlt_decoder("") is None


def test_a_class_by_dotted_path_is_instantiated() -> None:
    decoder = load_wlt_decoder("cnid_wlt_plugin:GreyPngDecoder")
    assert isinstance(decoder, cnid_wlt_plugin.GreyPngDecoder)
    assert image_format(decode_photo(decoder, bytes(range(256)) * 4)) == "png"


def test_an_instance_by_dotted_path_is_used_as_is() -> None:
    assert load_wlt_decoder("cnid_wlt_plugin:INSTANCE") is cnid_wlt_plugin.INSTANCE


def test_an_entry_point_is_found_in_the_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = tmp_path / "site-wlt-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: site-wlt\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nsite = cnid_wlt_plugin:GreyPngDecoder\n"
    )
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    decoder = load_wlt_decoder("entry-point:site")
    assert isinstance(decoder, cnid_wlt_plugin.GreyPngDecoder)
    with pytest.raises(WltDecoderError, match="no entry point 'other'"):
        load_wlt_decoder("entry-point:other")


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("no_such_module_here:Decoder", "cannot be imported"),
        ("cnid_wlt_plugin:Missing", "cannot be imported"),
        ("cnid_wlt_plugin", "neither"),
        ("cnid_wlt_plugin:NOT_A_DECODER", "no decode"),
    ],
)
def test_bad_specs_name_the_problem(spec: str, reason: str) -> None:
    with pytest.raises(WltDecoderError, match=reason):
        load_wlt_decoder(spec)


def test_a_failing_or_lying_decoder_is_reported() -> None:
    with pytest.raises(WltDecoderError, match="vendor library returned -4"):
        decode_photo(cnid_wlt_plugin.BrokenDecoder(), bytes(1024))
    with pytest.raises(WltDecoderError, match="not a JPEG"):
        decode_photo(cnid_wlt_plugin.NotAnImageDecoder(), bytes(1024))

"""Layout: sizes order by volume, and a bad configuration names the bad entry."""

import pytest

from locker.errors import LayoutError
from locker.layout import CompartmentSpec, Size, default_layout, parse_layout


def test_sizes_order_by_volume_not_alphabet():
    assert Size.S < Size.M < Size.L
    assert sorted([Size.L, Size.S, Size.M]) == [Size.S, Size.M, Size.L]
    assert Size.L >= Size.M and not Size.S >= Size.M


def test_default_layout_has_four_small_three_medium_two_large_on_channels_1_to_9():
    layout = default_layout()
    assert [s.size for s in layout] == [Size.S] * 4 + [Size.M] * 3 + [Size.L] * 2
    assert [s.channel for s in layout] == list(range(1, 10))
    assert layout[0] == CompartmentSpec("A01", Size.S, 1)
    assert len({s.id for s in layout}) == 9


def test_parse_layout_builds_specs_from_configuration():
    specs = parse_layout(
        [{"id": "B01", "size": "L", "channel": 4}, {"id": "B02", "size": "S", "channel": 2}]
    )
    assert specs == [CompartmentSpec("B01", Size.L, 4), CompartmentSpec("B02", Size.S, 2)]


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (
            [{"id": "A01", "size": "S", "channel": 1}, {"id": "A01", "size": "M", "channel": 2}],
            r"entry 1 \(A01\): id A01 is already used by entry 0",
        ),
        (
            [{"id": "A01", "size": "S", "channel": 1}, {"id": "A02", "size": "M", "channel": 1}],
            r"entry 1 \(A02\): channel 1 is already used by A01",
        ),
        ([{"id": "A01", "size": "XL", "channel": 1}], r"entry 0 \(A01\): unknown size 'XL'"),
        ([{"id": "A01", "size": "S", "chanel": 1}], r"entry 0 \(A01\): unknown key 'chanel'"),
        ([{"id": "A01", "size": "S"}], r"entry 0 \(A01\): missing key 'channel'"),
        ([{"id": "A01", "size": "S", "channel": True}], r"channel must be a positive integer"),
        ([{"id": "A01", "size": "S", "channel": 0}], r"channel must be a positive integer"),
        ([], r"non-empty list"),
    ],
)
def test_parse_layout_rejects_bad_entries_naming_them(items, expected):
    with pytest.raises(LayoutError, match=expected):
        parse_layout(items)

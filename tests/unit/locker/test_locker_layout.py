"""Layout: sizes order by volume; the default layout of nine compartments."""

from locker.layout import CompartmentSpec, Size, default_layout


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

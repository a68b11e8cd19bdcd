"""Outbox entries answered "no matching subscribers" are due again after a growing pause."""

from __future__ import annotations

from cloud_bridge.link_unheard import NO_MATCHING_SUBSCRIBERS, UnheardPublishes

SUCCESS = 0


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_unheard_entries_are_due_after_a_pause_that_doubles_until_someone_hears():
    clock = _Clock()
    unheard = UnheardPublishes(0.25, 10.0, clock)
    unheard.sent(1, seq=11)
    unheard.sent(2, seq=12)
    unheard.puback(1, NO_MATCHING_SUBSCRIBERS)
    unheard.puback(2, NO_MATCHING_SUBSCRIBERS)
    assert unheard.count == 2
    assert unheard.due() == []  # the pause has not passed
    assert unheard.wait_s(1.0) == 0.25
    clock.now += 0.25
    assert unheard.due() == [11, 12]
    assert unheard.due() == []

    for pause in (0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0):  # nobody hears: twice as long, capped
        unheard.sent(3, seq=11)
        unheard.puback(3, NO_MATCHING_SUBSCRIBERS)
        clock.now += pause - 0.01
        assert unheard.due() == []
        clock.now += 0.01
        assert unheard.due() == [11]

    unheard.sent(4, seq=13)
    unheard.puback(4, SUCCESS)  # a backend subscribed: the next pause is the shortest again
    unheard.sent(5, seq=14)
    unheard.puback(5, NO_MATCHING_SUBSCRIBERS)
    clock.now += 0.25
    assert unheard.due() == [14]
    assert unheard.wait_s(1.0) == 1.0  # nothing waiting: the sender's own poll


def test_a_puback_that_comes_before_the_sender_noted_its_packet_still_counts():
    unheard = UnheardPublishes(0.0, 10.0, _Clock())
    unheard.puback(7, NO_MATCHING_SUBSCRIBERS)  # paho's thread was first
    unheard.sent(7, seq=70)
    unheard.puback(8, SUCCESS)
    unheard.sent(8, seq=80)
    assert unheard.due() == [70]


def test_a_new_connection_forgets_packet_ids_and_bounds_stray_pubacks():
    unheard = UnheardPublishes(0.0, 10.0, _Clock())
    unheard.sent(1, seq=10)
    unheard.forget()
    unheard.puback(1, NO_MATCHING_SUBSCRIBERS)  # an id of the old connection: not entry 10
    assert unheard.due() == []
    for mid in range(5000):  # PUBACKs of publishes that are not outbox entries (status, requests)
        unheard.puback(mid, SUCCESS)
    assert len(unheard._early) <= UnheardPublishes._EARLY_KEPT

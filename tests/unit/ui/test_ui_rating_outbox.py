"""The rating screen puts one `event.service_rated` per application into the durable outbox."""

from __future__ import annotations

from ui_unit_kiosk import leftovers, offline_kiosk, walk_to_review

from cloud_bridge.contract import messages as m


def ratings_queued(node) -> list[m.ServiceRated]:
    rows = node.db.read("SELECT payload FROM outbox WHERE kind = 'message'")
    return [e for e in (m.decode(p) for (p,) in rows) if isinstance(e, m.ServiceRated)]


def to_rating(drv, devices) -> str:
    s = drv.kiosk.screens
    walk_to_review(drv, devices)
    drv.tap(s["review"].submit_button)
    drv.wait_screen("receipt")
    number = s["receipt"].receipt.application_no
    drv.tap(s["receipt"].nav.children[0])
    drv.wait_screen("rating")
    return number


def test_a_low_score_with_reasons_is_queued_once_for_the_application(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        k, r = drv.kiosk, drv.kiosk.screens["rating"]
        number = to_rating(drv, devices)
        assert not r.reason_row.children, "no reasons before a low score"
        drv.tap(r.choices[-1])  # very dissatisfied
        assert r.why.text == k.t("rating.why")
        assert set(r.reason_buttons) == {x.value for x in m.RatingReason}
        assert all(b.get_root_window() is not None for b in r.reason_buttons.values())
        drv.tap(r.reason_buttons["waiting"])
        drv.tap(r.reason_buttons["device_problem"])
        drv.tap(r.reason_buttons["waiting"])  # changed their mind
        drv.tap(r.reason_buttons["unclear_guidance"])
        drv.tap(r.send_button)
        assert r.thanks.text == k.t("rating.thanks")
        [event] = drv.wait_for(lambda: ratings_queued(k.node), what="the rating in the outbox")
        assert event.application_no == number
        assert event.operation_id == f"{number}#rating"
        assert event.score == 1
        assert [x.value for x in event.reasons] == ["device_problem", "unclear_guidance"]

        # Back on the rating screen for the same application (a second go): nothing more.
        k.go("rating", application_no=number)
        drv.tap(r.choices[0])
        drv.wait_for(lambda: not k.worker.busy(), what="the rating job done")
        assert len(ratings_queued(k.node)) == 1

        drv.tap(r.finish_button)
        drv.wait_screen("home")
        drv.pump(2)
        assert leftovers(k, {number, number.replace("-", "")}) == []
        assert r.application_no is None and r.score is None and not r.reasons


def test_a_good_score_is_sent_with_one_tap_and_finishing_early_keeps_a_low_one(tmp_path):
    with offline_kiosk(tmp_path, lang="zh") as (drv, devices, _key):
        k, r = drv.kiosk, drv.kiosk.screens["rating"]
        number = to_rating(drv, devices)
        drv.tap(r.choices[1])  # satisfied
        assert r.thanks.text == k.t("rating.thanks")
        assert not r.reason_row.children
        [event] = drv.wait_for(lambda: ratings_queued(k.node), what="the rating in the outbox")
        assert (event.application_no, event.score, event.reasons) == (number, 4, [])
        drv.tap(r.finish_button)
        drv.wait_screen("home")

        # A second citizen taps a low score and one reason, then "finish" without "send".
        number2 = to_rating(drv, devices)
        drv.tap(r.choices[-2])  # dissatisfied
        drv.tap(r.reason_buttons["too_many_steps"])
        drv.tap(r.finish_button)
        drv.wait_screen("home")
        drv.wait_for(lambda: len(ratings_queued(k.node)) == 2, what="the second rating")
        second = ratings_queued(k.node)[-1]
        assert (second.application_no, second.score) == (number2, 2)
        assert [x.value for x in second.reasons] == ["too_many_steps"]

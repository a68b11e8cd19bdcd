"""The staff sign-in screen: a one-time code, refusals that say why, and no lock-out ever.

The kiosk runs offline on emulated devices. Where a test needs the backend's answer, the
kiosk is given `ui_unit_kiosk.staff_sign_in`, which answers as the backend does for one code;
the real exchange over the broker is tested in tests/integration/terminal.
"""

from __future__ import annotations

from ui_unit_kiosk import STAFF_CODE, offline_kiosk

from terminal.ui.kiosk import walk


def sign_in(drv, code: str) -> None:
    login = drv.kiosk.screens["staff_login"]
    drv.type(login.keypad, code)
    drv.tap(login.enter_button)


def test_wrong_codes_only_say_so_and_the_right_code_still_opens_service_mode(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, _devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        drv.tap(s["home"].staff_button)
        drv.wait_screen("staff_login")
        login = s["staff_login"]
        sign_in(drv, "1234")
        drv.wait_for(lambda: login.error.text == k.t("staff.bad_code"), what="too short")
        # Far more wrong codes than the old PIN's three: nothing locks at the kiosk.
        for n in range(12):
            sign_in(drv, f"{n:08d}")
            drv.wait_for(lambda: login.error.text == k.t("staff.wrong_code"), what="refused")
            login.error.text = ""  # so the next refusal is seen anew
            assert k.current == "staff_login" and login.keypad.value == ""
        sign_in(drv, STAFF_CODE)
        drv.wait_screen("staff")
        assert k.staff is not None and k.staff.member.username == "clerk.wang"
        assert s["staff"].who.text == k.t("staff.signed_in_as", name="Wang Fang")
        drv.tap(s["staff"].nav.children[0])  # leave service mode
        drv.wait_screen("home")
        assert k.staff is None
        texts = [getattr(w, "text", "") for w in walk(s["staff"])]
        assert not any("Wang Fang" in t for t in texts), "the name outlived the session"


def test_offline_nobody_signs_in_and_the_screen_says_why(tmp_path):
    # The node's own sign-in: the link is down, so the backend cannot be asked.
    with offline_kiosk(tmp_path, lang="en", staff_sign_in=None) as (drv, _devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        drv.tap(s["home"].staff_button)
        drv.wait_screen("staff_login")
        sign_in(drv, STAFF_CODE)
        login = s["staff_login"]
        drv.wait_for(lambda: login.error.text == k.t("staff.needs_link"), what="offline")
        assert k.current == "staff_login" and k.staff is None

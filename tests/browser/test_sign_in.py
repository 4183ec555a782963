"""Signing in and out in a real browser."""
from __future__ import annotations

from tests.factories import Factories


def test_a_user_is_refused_a_wrong_password_then_signs_in_and_out(journey, seeded):
    with seeded():
        user = Factories().user("quality_manager", name="Marta Bianchi")
    page = journey.page

    journey.goto("/suppliers/")
    assert page.url.startswith(journey.url("/login"))  # a page behind sign-in leads here
    journey.step("sign-in page")

    page.get_by_label("E-mail").fill(user.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("E-mail or password not correct.").wait_for()
    journey.step("wrong password")

    # Again with the keyboard only: the skip link first, then the form in order, Enter sends.
    journey.goto("/login?next=/suppliers/")
    page.keyboard.press("Tab")
    assert journey.focused() == "Skip to content"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert journey.focused() == "email"
    page.keyboard.type(user.email)
    page.keyboard.press("Tab")
    assert journey.focused() == "password"
    page.keyboard.type("correct horse battery")
    page.keyboard.press("Enter")
    page.wait_for_url(journey.url("/suppliers/"))  # back where the user meant to go
    journey.step("signed in")

    page.get_by_role("button", name="Marta Bianchi").click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login**")
    journey.goto("/suppliers/")
    assert page.url.startswith(journey.url("/login"))
    journey.step("signed out")

"""Sending a questionnaire and answering it on a phone through the e-mailed link, in a real
browser: the supplier has no account, only the link in the e-mail."""
from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

from sqlalchemy import select

from app.db import db
from questionnaires.models import Assignment
from suppliers import services as supplier_services
from tests.factories import Factories
from tests.questionnaires.conftest import build_questionnaire

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _link_in_mail(mail_dir: Path, recipient: str) -> str:
    """The portal link of the last questionnaire e-mail to `recipient`, as written to the sink."""
    for path in sorted(mail_dir.glob("*-questionnaire_sent.eml"), reverse=True):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == recipient:
            return re.search(r"https?://\S+/q/\S+", message.get_content()).group(0)
    raise AssertionError(f"no questionnaire e-mail to {recipient} in {mail_dir}")


def test_a_supplier_answers_the_questionnaire_on_a_phone_through_the_emailed_link(
        open_journey, seeded, live_server, tmp_path):
    with seeded():
        factories = Factories()
        manager = factories.user("quality_manager")
        build_questionnaire(name="Carrier qualification (browser)")
        supplier = factories.supplier(code="CAR-BRW-3", chain_roles=["last_mile"])
        supplier_services.add_contact(supplier, {"name": "Giulia Verdi", "email": "giulia@brw3.example",
                                                 "is_primary": True}, None)
        db.session.commit()

    # The quality office sends it from the supplier's page.
    office = open_journey("office")
    page = office.page
    office.sign_in(manager.email)
    office.goto("/suppliers/CAR-BRW-3")
    office.step("supplier page")
    page.get_by_role("link", name="Send questionnaire").click()
    chosen = page.get_by_label("Questionnaire", exact=True).locator("option", has_text="Carrier qualification (browser)")
    page.get_by_label("Questionnaire", exact=True).select_option(chosen.get_attribute("value"))
    # The supplier is Italian: Italian is offered; this contact reads English.
    page.get_by_label("Language of the e-mail and the questionnaire").select_option("en")
    page.get_by_label("Message to the supplier").fill("Please answer within two weeks.")
    office.step("send form")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(re.compile(r".*/questionnaires/assignments/\d+$"))
    office.step("assignment sent")

    # The supplier opens the e-mailed link on a phone.
    link = _link_in_mail(live_server.mail_dir, "giulia@brw3.example")
    assert link.startswith(live_server.url + "/q/")
    supplier_side = open_journey("supplier-phone", phone=True)
    page = supplier_side.page
    page.goto(link)
    assert page.get_by_text("Please answer within two weeks.").is_visible()
    supplier_side.step("portal opened")

    def question(key: str):
        return page.locator(f"[data-question-key='{key}']")

    question("iso9001").get_by_text("Yes", exact=True).click()
    question("insurance").get_by_label("Over €1M").check()
    question("on_time").get_by_role("textbox").fill("97")
    # The follow-up question appears only while its condition holds (questionnaire-portal.js).
    assert question("controls").is_hidden()
    question("subcontracts").get_by_text("Yes", exact=True).click()
    assert question("controls").is_visible()
    supplier_side.step("conditional question shown")
    question("subcontracts").get_by_text("No", exact=True).click()
    assert question("controls").is_hidden()
    question("tracking").get_by_text("4", exact=True).click()
    question("incidents").get_by_role("textbox").fill("We open a claim the same day and call the customer.")
    certificate = tmp_path / "iso9001.pdf"
    certificate.write_bytes(PDF)
    question("certificate").locator("input[type=file]").set_input_files(str(certificate))
    supplier_side.step("answers filled")

    page.get_by_role("button", name="Save draft").click()
    page.get_by_text(re.compile(r"^Last saved ")).wait_for()
    assert question("on_time").get_by_role("textbox").input_value() == "97"
    supplier_side.step("draft saved")

    # Submitting asks once more (a confirm dialog), then shows the answers read-only.
    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Submit").click()
    page.get_by_role("status").get_by_text("Submitted").wait_for()
    assert dialogs == ["Submit your answers now? You will not be able to change them afterwards."]
    supplier_side.step("submitted")

    with seeded():
        assignment = db.session.scalars(select(Assignment).where(Assignment.supplier_id == supplier.id)).one()
        assert assignment.status == "submitted"
        answers = {answer.question.key: answer for answer in assignment.answers}
        assert {key: answer.value for key, answer in answers.items() if key != "certificate"} == {
            "iso9001": "yes", "insurance": "high", "on_time": "97", "subcontracts": "no", "tracking": "4",
            "incidents": "We open a claim the same day and call the customer."}
        assert [f.original_name for f in answers["certificate"].files] == ["iso9001.pdf"]

"""Demo qualification questionnaires: two published templates (carriers and couriers, pickup
points) — the carriers' with a second version in draft — and assignments in every state.

Everything goes through the services, as the quality office and the suppliers' links would:
answers are saved and submitted with `save_answers`, so scores and results are the scoring
service's; decisions set the supplier's status and qualified-until date through `decide`; every
e-mail goes to the outbox (the loader keeps it away from any SMTP server). The services stamp
the real clock; afterwards each step is dated back to the day it stands for, as the supplier
register's history is.

Suppliers already in qualification (CAR-006, LM-002, PUP-005) receive the questionnaire their
history mentions; CAR-002, whose qualification expires within the requalification window, has
its requalification open. Decisions are taken on five suppliers added here for the purpose, so
that no status the rest of the demo relies on changes.
"""
from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import func, select

from app.db import db
from app.demo.suppliers import SEED, DemoSupplier, _contacts, _supplier_values
from app.i18n import company_zone
from questionnaires.models import Assignment, AssignmentPurpose, QuestionnaireTemplate, TemplateVersion
from questionnaires.services import assignments as assignment_service
from questionnaires.services import templates as template_service
from questionnaires.services.reminders import send_reminders
from suppliers import services as supplier_services
from suppliers.services import get_supplier_by_code

YES_NO = [{"value": "yes", "label": "Sì", "score": 1}, {"value": "no", "label": "No", "score": 0}]

CARRIER_TEMPLATE = {
    "name": "Qualifica vettori",
    "description": "Qualifica iniziale e rivalutazione di vettori e corrieri dell'ultimo miglio "
                   "(ISO 9001 §8.4).",
    "title": "Questionario di qualificazione vettori e corrieri",
    "introduction": "Vi chiediamo di rispondere con i dati degli ultimi 12 mesi. Le risposte sono "
                    "verificate in sede di audit: tenete a disposizione i documenti citati.",
    "pass_mark": 75, "conditional_mark": 60, "validity_months": 24,
}
CARRIER_SECTIONS = [
    ("Azienda e certificazioni", [
        {"key": "iso9001", "type": "yes_no", "text": "L'azienda è certificata ISO 9001?", "weight": 2,
         "required": True, "options": YES_NO},
        {"key": "iso9001_scadenza", "type": "date", "text": "Data di scadenza del certificato ISO 9001",
         "weight": 0, "required": True, "condition_key": "iso9001", "condition_values": ["yes"]},
        {"key": "certificato", "type": "file", "text": "Allegate il certificato ISO 9001 in corso di validità.",
         "weight": 0, "required": False, "max_files": 2, "condition_key": "iso9001", "condition_values": ["yes"]},
        {"key": "albo", "type": "short_text", "text": "Numero di iscrizione all'Albo nazionale degli autotrasportatori",
         "weight": 0, "required": True},
        {"key": "assicurazione", "type": "single_choice", "weight": 3, "required": True,
         "text": "Massimale della polizza RC vettoriale per le merci trasportate",
         "help_text": "Senza copertura assicurativa delle merci la qualifica non è possibile.",
         "options": [{"value": "nessuna", "label": "Nessuna copertura", "score": 0, "knockout": True},
                     {"value": "fino_1m", "label": "Fino a 1 milione di euro", "score": 1},
                     {"value": "oltre_1m", "label": "Oltre 1 milione di euro", "score": 2}]},
    ]),
    ("Prestazioni e flotta", [
        {"key": "puntualita", "type": "number", "text": "Consegne puntuali negli ultimi 12 mesi", "weight": 3,
         "required": True, "unit": "%", "min_value": 0, "max_value": 100,
         "scoring": {"bands": [{"min": None, "max": 90, "score": 0}, {"min": 90, "max": 95, "score": 1},
                               {"min": 95, "max": None, "score": 2}]}},
        {"key": "smarrimenti", "type": "number", "text": "Colli smarriti ogni 1.000 spediti negli ultimi 12 mesi",
         "weight": 2, "required": True, "unit": "‰", "min_value": 0,
         "scoring": {"bands": [{"min": None, "max": 0.5, "score": 2}, {"min": 0.5, "max": 2, "score": 1},
                               {"min": 2, "max": 5, "score": 0}, {"min": 5, "max": None, "score": 0, "knockout": True}]}},
        {"key": "tracciamento", "type": "scale", "weight": 2, "required": True,
         "text": "Quanto è completo il tracciamento dei colli? (1 = solo ritiro e consegna, 5 = ogni passaggio "
                 "in tempo reale)"},
    ]),
    ("Subvettori e reclami", [
        {"key": "subvettori", "type": "yes_no", "text": "Affidate parte delle consegne a subvettori?", "weight": 0,
         "required": True, "options": YES_NO},
        {"key": "controlli", "type": "multiple_choice", "text": "Come controllate i vostri subvettori?", "weight": 2,
         "required": True, "condition_key": "subvettori", "condition_values": ["yes"],
         "options": [{"value": "audit", "label": "Audit periodici", "score": 1},
                     {"value": "contratto", "label": "Clausole contrattuali e penali", "score": 1},
                     {"value": "kpi", "label": "Revisione mensile dei KPI", "score": 2}]},
        {"key": "reclami", "type": "long_text", "weight": 0, "required": True,
         "text": "Descrivete come gestite un collo smarrito, dalla segnalazione al rimborso."},
    ]),
]
#: What the second version (a draft) adds.
CARRIER_V2_QUESTION = {
    "key": "flotta_green", "type": "number", "weight": 1, "required": True, "unit": "%", "min_value": 0,
    "max_value": 100, "text": "Quota della flotta a basse emissioni (elettrico, metano, HVO)",
    "scoring": {"bands": [{"min": None, "max": 10, "score": 0}, {"min": 10, "max": 30, "score": 1},
                          {"min": 30, "max": None, "score": 2}]},
}

PICKUP_TEMPLATE = {
    "name": "Qualifica punti di ritiro",
    "description": "Requisiti di un punto di ritiro (edicola, tabaccheria, negozio) prima di attivarlo.",
    "title": "Questionario per i punti di ritiro",
    "introduction": "Bastano dieci minuti. Se avete dubbi, il referente del vettore vi aiuta nella compilazione.",
    "pass_mark": 70, "conditional_mark": 55, "validity_months": 12,
}
PICKUP_SECTIONS = [
    ("Il punto di ritiro", [
        {"key": "ore_apertura", "type": "number", "text": "Ore di apertura alla settimana", "weight": 2,
         "required": True, "unit": "ore", "min_value": 0, "max_value": 168,
         "scoring": {"bands": [{"min": None, "max": 30, "score": 0}, {"min": 30, "max": 50, "score": 1},
                               {"min": 50, "max": None, "score": 2}]}},
        {"key": "deposito", "type": "single_choice", "text": "Dove tenete i pacchi in giacenza?", "weight": 3,
         "required": True,
         "options": [{"value": "nessuno", "label": "Non c'è uno spazio separato", "score": 0, "knockout": True},
                     {"value": "scaffale", "label": "Uno scaffale nel negozio", "score": 1},
                     {"value": "retro", "label": "Un retro o magazzino chiuso a chiave", "score": 2}]},
        {"key": "capienza", "type": "number", "text": "Quanti pacchi potete tenere in giacenza insieme?",
         "weight": 1, "required": True, "unit": "pacchi", "min_value": 0,
         "scoring": {"bands": [{"min": None, "max": 20, "score": 0}, {"min": 20, "max": 60, "score": 1},
                               {"min": 60, "max": None, "score": 2}]}},
        {"key": "accessibile", "type": "yes_no", "text": "Il punto è accessibile senza barriere architettoniche?",
         "weight": 1, "required": True, "options": YES_NO},
    ]),
    ("Il servizio", [
        {"key": "portale", "type": "yes_no", "weight": 2, "required": True,
         "text": "Registrate ogni ritiro e consegna sull'app del vettore?",
         "options": [{"value": "yes", "label": "Sì", "score": 1},
                     {"value": "no", "label": "No", "score": 0, "knockout": True}]},
        {"key": "documento", "type": "yes_no", "text": "Controllate il documento di chi ritira un pacco?",
         "weight": 2, "required": True, "options": YES_NO},
        {"key": "foto", "type": "file", "text": "Una foto dell'area di deposito", "weight": 0, "required": False,
         "max_files": 3},
        {"key": "note", "type": "long_text", "text": "Osservazioni", "weight": 0, "required": False},
    ]),
]

#: Suppliers added for the decided questionnaires; registered `registered` days ago.
NEW_SUPPLIERS = (
    DemoSupplier("CAR-007", "Trasporti Appennino S.r.l.", "IT", "Firenze", "Via di Novoli 71, 50127",
                 "trasportiappennino.example", ("carrier",), "medium", 45,
                 notes="Candidato per le consegne in Toscana e Umbria."),
    DemoSupplier("CAR-008", "Autolinee Merci Piemonte S.p.A.", "IT", "Torino", "Strada del Drosso 140, 10135",
                 "autolineemerci.example", ("carrier",), "high", 95,
                 notes="Sostituisce CAR-004 sulle tratte piemontesi durante la sospensione."),
    DemoSupplier("LM-008", "Express Consegne Orobiche S.r.l.s.", "IT", "Bergamo", "Via Borgo Palazzo 190, 24125",
                 "expressorobiche.example", ("last_mile",), "medium", 70, parent="CAR-001"),
    DemoSupplier("PUP-008", "Libreria Il Segnalibro di Conti Laura", "IT", "Parma", "Borgo Felino 12, 43121",
                 "libreriasegnalibro.example", ("pickup_point",), "low", 35, parent="CAR-002",
                 people=(("Laura Conti", "Titolare"),)),
    DemoSupplier("PUP-009", "Merceria Fiori di Galli Rita", "IT", "Treviso", "Via Roma 45, 31100",
                 "merceriafiori.example", ("pickup_point",), "low", 80, parent="CAR-002",
                 people=(("Rita Galli", "Titolare"),)),
)

# Answers, by question key, as the portal's form sends them.
CARRIER_GOOD = {"iso9001": "yes", "albo": "TO/1234567/B", "assicurazione": "oltre_1m", "puntualita": "96.4",
                "smarrimenti": "0.3", "tracciamento": "5", "subvettori": "yes", "controlli": ["audit", "kpi"],
                "reclami": "Apriamo la pratica entro 24 ore, ricerchiamo il collo negli hub per 5 giorni "
                           "lavorativi e poi rimborsiamo il valore dichiarato entro 30 giorni."}
CARRIER_FAIR = {"iso9001": "yes", "albo": "FI/7654321/A", "assicurazione": "fino_1m", "puntualita": "93.1",
                "smarrimenti": "0.8", "tracciamento": "4", "subvettori": "no",
                "reclami": "Il servizio clienti apre un reclamo e, dopo la verifica con l'autista, rimborsiamo "
                           "il cliente tramite il committente."}
CARRIER_UNINSURED = {"iso9001": "no", "albo": "BG/1122334/C", "assicurazione": "nessuna", "puntualita": "91",
                     "smarrimenti": "2.4", "tracciamento": "3", "subvettori": "no",
                     "reclami": "Chiediamo all'autista e, se il collo non si trova, lo segnaliamo al committente."}
CARRIER_DRAFT = {"iso9001": "yes", "albo": "LY-69-2023-0042", "assicurazione": "oltre_1m"}
PICKUP_FAIR = {"ore_apertura": "42", "deposito": "scaffale", "capienza": "25", "accessibile": "yes",
               "portale": "yes", "documento": "yes", "note": "Chiusi il lunedì mattina."}
PICKUP_CONDITIONAL = {"ore_apertura": "44", "deposito": "scaffale", "capienza": "45", "accessibile": "no",
                      "portale": "yes", "documento": "yes",
                      "note": "C'è un gradino all'ingresso; lo scaffale dei pacchi è dietro il bancone."}


def load_questionnaires(actor, today: dt.date) -> dict:
    zone = company_zone()

    def at(days_ago: int, hour: int = 10) -> dt.datetime:
        return dt.datetime.combine(today - dt.timedelta(days=days_ago), dt.time(hour, 15), tzinfo=zone)

    carrier = _template(CARRIER_TEMPLATE, CARRIER_SECTIONS, actor, published=at(240))
    pickup = _template(PICKUP_TEMPLATE, PICKUP_SECTIONS, actor, published=at(200))
    draft = template_service.new_draft(carrier.template, actor)
    template_service.add_question(draft.sections[1], dict(CARRIER_V2_QUESTION), actor)
    draft.created_at = at(6)

    suppliers = {code: get_supplier_by_code(code) for code in ("CAR-002", "CAR-006", "LM-002", "PUP-005")}
    suppliers.update(_new_suppliers(actor, today, zone))

    def send(version, code, sent, due_in, **kw) -> Assignment:
        supplier = suppliers[code]
        history = len(supplier.status_changes)
        assignment = assignment_service.send_assignment(
            version, supplier, today + dt.timedelta(days=due_in), actor, today=today - dt.timedelta(days=sent),
            language="it" if supplier.country == "IT" else "en", **kw)
        assignment.created_at = assignment.sent_at = assignment.events[-1].at = at(sent, 9)
        for change in supplier.status_changes[history:]:
            change.changed_at = at(sent, 9)
        return assignment

    def answer(assignment, values, days_ago, *, submit=True, certificate_valid_for: int | None = None):
        if certificate_valid_for is not None:
            values = {**values, "iso9001_scadenza": (today + dt.timedelta(days=certificate_valid_for)).isoformat()}
        questions = {q.key: q.id for q in assignment.template_version.questions()}
        form = {questions[key]: value if isinstance(value, list) else [value] for key, value in values.items()}
        events = len(assignment.events)
        assignment_service.save_answers(assignment, form, submit=submit)
        assignment.last_saved_at = at(days_ago, 18)
        for item in assignment.answers:
            item.updated_at = at(days_ago, 18)
        if submit:
            assignment.submitted_at = at(days_ago, 18)
        for event in assignment.events[events:]:
            event.at = at(days_ago, 18)

    def clarify(assignment, requests, days_ago):
        questions = {q.key: q.id for q in assignment.template_version.questions()}
        assignment_service.request_clarification(assignment, {questions[k]: text for k, text in requests.items()},
                                                 actor, today=today - dt.timedelta(days=days_ago))
        assignment.events[-1].at = at(days_ago, 11)

    def decide(assignment, decision, reason, days_ago):
        supplier = assignment.supplier
        history = len(supplier.status_changes)
        assignment_service.decide(assignment, decision, reason, actor, today=today - dt.timedelta(days=days_ago))
        assignment.decided_at = assignment.events[-1].at = at(days_ago, 15)
        for change in supplier.status_changes[history:]:
            change.changed_at = at(days_ago, 15)

    # Waiting for the supplier: sent, being filled in (due soon), overdue, a requalification.
    send(pickup, "PUP-005", sent=9, due_in=12,
         message="Dopo il sopralluogo di CAR-002 vi chiediamo di completare la qualifica.")
    in_progress = send(carrier, "CAR-006", sent=12, due_in=2)
    answer(in_progress, CARRIER_DRAFT, 3, submit=False, certificate_valid_for=420)
    send(carrier, "LM-002", sent=30, due_in=-9, message="Come concordato con CAR-001, il questionario per la "
                                                        "qualifica come subfornitore.")
    requalification = suppliers["CAR-002"]
    send(carrier, "CAR-002", sent=7, due_in=14, purpose=AssignmentPurpose.REQUALIFICATION.value,
         message=f"La qualifica scade il {requalification.qualified_until:%d/%m/%Y}: vi chiediamo di "
                 "rispondere al questionario di rivalutazione.")

    # A first sending cancelled and sent again, now submitted and waiting for review.
    mistaken = send(carrier, "CAR-007", sent=24, due_in=-10)
    assignment_service.cancel(mistaken, "Scadenza troppo vicina indicata per errore: annullato e reinviato "
                                        "con tre settimane per rispondere.", actor)
    mistaken.events[-1].at = at(23, 12)
    submitted = send(carrier, "CAR-007", sent=23, due_in=-2)
    answer(submitted, CARRIER_FAIR, 4, certificate_valid_for=150)

    # Sent back for clarification.
    clarification = send(pickup, "PUP-008", sent=25, due_in=5)
    answer(clarification, PICKUP_FAIR, 10)
    clarify(clarification, {"capienza": "Nel sopralluogo abbiamo contato spazio per circa 15 pacchi: "
                                        "confermate la capienza?",
                            "deposito": "Lo scaffale è visibile ai clienti? Descrivete come è protetto."}, 6)

    # Decided: approved, conditionally approved, rejected.
    # (A link stays open QUESTIONNAIRE_LINK_GRACE_DAYS after its due date, and the portal checks
    # that on the real clock: these were answered within the last month and a half.)
    approved = send(carrier, "CAR-008", sent=45, due_in=-24)
    answer(approved, CARRIER_GOOD, 28, certificate_valid_for=700)
    decide(approved, "approved", "Questionario completo e documenti verificati; audit in sede senza rilievi.", 25)
    conditional = send(pickup, "PUP-009", sent=40, due_in=-19)
    answer(conditional, PICKUP_CONDITIONAL, 30)
    decide(conditional, "conditionally_approved",
           "Spazio di deposito nel negozio e punto non accessibile ai clienti con disabilità: approvato con "
           "riserva, da rivedere alla prossima qualifica.", 27)
    rejected = send(carrier, "LM-008", sent=38, due_in=-17)
    answer(rejected, CARRIER_UNINSURED, 22)
    decide(rejected, "rejected", "Nessuna copertura assicurativa delle merci trasportate (domanda bloccante).", 20)

    # What the daily step would have sent by now: the overdue and due-soon reminders.
    send_reminders(today)
    db.session.flush()
    return {
        "questionnaire_templates": db.session.scalar(select(func.count()).select_from(QuestionnaireTemplate)),
        "assignments": db.session.scalar(select(func.count()).select_from(Assignment)),
    }


def _template(values: dict, sections: list, actor, *, published: dt.datetime) -> TemplateVersion:
    template: QuestionnaireTemplate = template_service.create_template(dict(values), actor)
    version = template.versions[0]
    for title, questions in sections:
        section = template_service.add_section(version, title, None, actor)
        for question in questions:
            template_service.add_question(section, dict(question), actor)
    template_service.publish(version, actor)
    template.created_at = version.created_at = published - dt.timedelta(days=3)
    version.published_at = published
    return version


def _new_suppliers(actor, today: dt.date, zone) -> dict:
    created = {}
    for demo in NEW_SUPPLIERS:
        rng = random.Random(f"{SEED}:{demo.code}")
        supplier = supplier_services.create_supplier(_supplier_values(demo, rng), actor)
        registered = dt.datetime.combine(today - dt.timedelta(days=demo.registered), dt.time(9, 30), tzinfo=zone)
        supplier.created_at = supplier.status_changes[0].changed_at = registered
        for contact in _contacts(demo, rng):
            supplier_services.add_contact(supplier, contact, actor)
        created[demo.code] = supplier
    return created

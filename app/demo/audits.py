"""Demo audit programme: three plans fired over the past year, their audits in every status,
findings of every grade and corrective actions in every state.

- "Audit mensile SLA vettori": a remote SLA review of the high-risk carriers every month (the
  previous month). It began as a list (CAR-001, CAR-002, CAR-003) and became a rule when CAR-008
  was approved, so that new carriers join by themselves: CAR-008's first audit is the next one.
- "Audit trimestrale punti di ritiro": medium- and critical-risk pickup points every quarter
  (the previous quarter), critical ones every month.
- "Audit annuale in sede vettori": on site, with the carriers' qualification questionnaire as
  checklist, once a year for CAR-001 and CAR-002 (the previous calendar year).

Everything goes through the services, as the scheduler, the auditor, the quality office and the
suppliers' links would: `run_due` fires each scheduled day on that day, the snapshots measure
the demo's legs against the demo's SLAs, findings are proposed from them (so the grades are the
rules'), corrective actions are requested, answered, reviewed and verified (from the later SLA
data when it decides, by a person otherwise), audits close once their nonconformities are
settled; finally the daily step escalates what is overdue. The services stamp the real clock;
each step is then dated back to the day it stands for, as app/demo/questionnaires.py does.

The latest month's audits stay planned or in progress; the older ones are issued and, where
every nonconformity has an effective action, closed. The nonconformities of the last three
months carry the actions still open: overdue (a minor one, so no supplier is suspended),
answered and waiting for review, sent back, accepted and waiting for effectiveness; CAR-002's
on-site major nonconformity had an action found not effective and a new one just requested.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import itertools

from sqlalchemy import func, select, update
from sqlalchemy.orm.attributes import set_committed_value

from app.db import db
from app.i18n import company_zone
from audits.models import (
    ActionStatus,
    Audit,
    AuditEvent,
    AuditPlan,
    AuditPlanFiring,
    AuditStatus,
    CorrectiveAction,
    Finding,
    FindingGrade,
)
from audits.services import actions as action_service
from audits.services import conduct
from audits.services import programme
from questionnaires.models import QuestionnaireTemplate

#: Days before `today` within which an issued audit's nonconformities keep actions open.
RECENT_DAYS = 100

MONTHLY = {
    "name": "Audit mensile SLA vettori",
    "objectives": "Verificare ogni mese il rispetto degli SLA dei vettori ad alto rischio e aprire le "
                  "azioni correttive sulle non conformità.",
    "criteria": "SLA del contratto quadro e SLA di ruolo in vigore nel periodo; clausole 4 e 7 del contratto.",
    "audit_type": "remote_sla_review", "supplier_scope": "list", "suppliers": ["CAR-001", "CAR-002", "CAR-003"],
    "recurrence": "monthly", "day_of_month": 1, "period_basis": "previous_month", "lead_time_days": 7,
    "major_margin": "0.10",
}
#: What the monthly plan became when CAR-008 was approved.
MONTHLY_RULE = {"chain_roles": ["carrier"], "statuses": ["approved", "conditionally_approved"],
                "risk_classes": ["high"]}
PICKUP = {
    "name": "Audit trimestrale punti di ritiro",
    "objectives": "Verificare la disponibilità puntuale dei pacchi nei punti di ritiro più esposti.",
    "criteria": "SLA \"Pacco disponibile al punto di ritiro\" e requisiti del questionario di qualifica.",
    "audit_type": "remote_sla_review", "supplier_scope": "rule",
    "rule": {"chain_roles": ["pickup_point"], "statuses": ["approved", "conditionally_approved"],
             "risk_classes": ["medium", "critical"]},
    "recurrence": "quarterly", "day_of_month": 5, "risk_recurrence": {"critical": "monthly"},
    "period_basis": "previous_quarter", "lead_time_days": 10, "major_margin": "0.10",
}
ON_SITE = {
    "name": "Audit annuale in sede vettori",
    "objectives": "Verificare in sede processi, mezzi e documenti dei vettori principali, con la lista di "
                  "controllo del questionario di qualifica.",
    "criteria": "Questionario di qualificazione vettori e corrieri; contratto quadro; ISO 9001 §8.4.",
    "audit_type": "on_site", "supplier_scope": "list", "suppliers": ["CAR-001", "CAR-002"],
    "recurrence": "yearly", "day_of_month": 12, "period_basis": "previous_year", "lead_time_days": 14,
    "major_margin": "0.10",
}
CHECKLIST_TEMPLATE = "Qualifica vettori"

LOCATIONS = {
    "CAR-001": "Sede e hub di Milano, Via dell'Innovazione 18",
    "CAR-002": "Sede e magazzino di Ancona, Via della Cooperazione 7",
}
PARTICIPANTS = {
    "CAR-001": [("Roberto Galli", "Responsabile qualità", "auditee"), ("Sara Colombo", "Capo hub", "auditee")],
    "CAR-002": [("Francesco Marini", "Direttore operativo", "auditee"),
                ("Elena Pieri", "Responsabile flotta", "auditee")],
}

# Findings the auditor adds by hand, by (plan, firing, supplier): firings count from the
# latest (-1) or from the first (0). (grade, criterion, statement, evidence)
F = FindingGrade
MANUAL_FINDINGS = {
    ("on_site", -1, "CAR-001"): [
        (F.GOOD_PRACTICE, "Contratto quadro §7 (reportistica)",
         "Cruscotto dei KPI condiviso in tempo reale con il committente, con l'analisi delle cause dei "
         "ritardi per tratta.", "Dimostrazione del cruscotto durante l'audit."),
        (F.OBSERVATION, "ISO 9001 §7.2 (competenza)",
         "Il piano di formazione degli autisti non riporta i corsi del secondo semestre.",
         "Piano di formazione rev. 3, intervista al capo hub."),
        (F.MINOR_NC, "Questionario di qualifica, gestione dei colli smarriti",
         "Due pratiche di smarrimento su dieci campionate sono state aperte oltre le 24 ore dichiarate.",
         "Registro reclami, pratiche n. 118 e 131."),
    ],
    ("on_site", -1, "CAR-002"): [
        (F.MAJOR_NC, "Contratto quadro §9 (assicurazione)",
         "Il massimale della polizza RC vettoriale in vigore è di 500.000 euro, inferiore al milione "
         "richiesto dal contratto.", "Polizza n. 44/7781, quietanza di gennaio."),
        (F.MINOR_NC, "Contratto quadro §5 (subvettori)",
         "Due subvettori impiegati sulle tratte marchigiane non risultano qualificati.",
         "Elenco viaggi di marzo, lettere di vettura 2231 e 2240."),
        (F.IMPROVEMENT, "Questionario di qualifica, tracciamento",
         "Il tracciamento registra ritiro e consegna ma non i passaggi negli hub: aggiungere le scansioni "
         "intermedie ridurrebbe i tempi di ricerca dei colli.", None),
    ],
    ("monthly", -2, "CAR-001"): [
        (F.MINOR_NC, "Contratto quadro §7.3 (reclami)",
         "Il registro dei reclami del mese non è stato aggiornato: 6 reclami chiusi senza data di chiusura.",
         "Estratto del registro reclami inviato dal fornitore."),
    ],
    ("monthly", -3, "CAR-003"): [
        (F.MINOR_NC, "Contratto quadro §8 (documenti di trasporto)",
         "7 lettere di vettura su 30 controllate non riportano l'ora di presa in carico.",
         "Campione di 30 lettere di vettura del mese."),
    ],
    ("monthly", -1, "CAR-003"): [
        (F.MINOR_NC, "Contratto quadro §4.2 (preavviso dei ritardi)",
         "I ritardi superiori a 24 ore non sono stati comunicati entro la giornata in 5 casi su 9.",
         "Messaggi di preavviso del mese confrontati con i ritardi registrati."),
    ],
    ("monthly", -1, "CAR-002"): [
        (F.MINOR_NC, "Contratto quadro §6 (prova di consegna)",
         "4 prove di consegna su 20 controllate sono prive della firma del destinatario.",
         "Campione di 20 POD del mese."),
        (F.OBSERVATION, "Contratto quadro §6 (prova di consegna)",
         "Le foto di consegna sono spesso sfocate e non mostrano il numero civico.", None),
    ],
    ("pickup", -1, "PUP-004"): [
        (F.MINOR_NC, "Requisiti del punto di ritiro (giacenza)",
         "11 pacchi in giacenza oltre i 10 giorni previsti non sono stati restituiti al vettore.",
         "Elenco giacenze estratto dall'app del vettore."),
        (F.IMPROVEMENT, "Requisiti del punto di ritiro (deposito)",
         "Numerare i ripiani dello scaffale renderebbe più rapida la consegna al cliente.", None),
    ],
    ("pickup", -1, "PUP-006"): [
        (F.MINOR_NC, "Requisiti del punto di ritiro (disponibilità)",
         "Tre armadietti di Torino Porta Nuova sono rimasti fuori servizio oltre 48 ore senza segnalazione.",
         "Log di disponibilità delle postazioni."),
    ],
    ("pickup", 0, "PUP-006"): [
        (F.GOOD_PRACTICE, "Requisiti del punto di ritiro (comunicazione)",
         "Notifica al cliente con codice di ritiro e promemoria automatico dopo 48 ore.", None),
    ],
}

ANSWERS = [
    {"containment": "Verifica immediata delle spedizioni aperte sulle tratte interessate e priorità di carico.",
     "why1": "Le partenze dall'hub sono slittate oltre l'orario di taglio.",
     "why2": "Il personale del turno serale era sottodimensionato.",
     "why3": "La pianificazione dei turni non considerava i picchi di volume.",
     "root_cause": "Pianificazione dei turni non allineata alle previsioni di volume del committente.",
     "action_plan": "Nuovo modello di pianificazione settimanale dei turni sulle previsioni di volume; "
                    "riserva di due addetti nei giorni di picco."},
    {"containment": "Controllo al 100% delle registrazioni del periodo e correzione dei dati mancanti.",
     "why1": "Gli operatori non completano la registrazione a fine giornata.",
     "why2": "La procedura non indica chi verifica la completezza.",
     "root_cause": "Manca un controllo di completezza giornaliero nella procedura.",
     "action_plan": "Revisione della procedura con un controllo giornaliero del responsabile di turno e "
                    "formazione di tutti gli operatori."},
    {"containment": "Sostituzione temporanea dei mezzi e dei subvettori coinvolti.",
     "why1": "Il requisito contrattuale non era nella lista di controllo degli acquisti.",
     "root_cause": "Il processo di acquisto non verifica i requisiti del contratto quadro.",
     "action_plan": "Lista di controllo degli acquisti aggiornata con i requisiti del contratto quadro; "
                    "verifica trimestrale da parte della qualità."},
]


def load_audits(manager, auditor, today: dt.date) -> dict:
    loader = _Loader(manager, auditor, today)
    loader.run()
    db.session.flush()
    counts = dict(db.session.execute(select(Audit.status, func.count()).group_by(Audit.status)).all())
    return {
        "audit_plans": db.session.scalar(select(func.count()).select_from(AuditPlan)),
        "audits": sum(counts.values()),
        "audits_by_status": {s.value: counts.get(s.value, 0) for s in AuditStatus},
        "findings": db.session.scalar(select(func.count()).select_from(Finding)),
        "corrective_actions": db.session.scalar(select(func.count()).select_from(CorrectiveAction)),
    }


class _Loader:
    def __init__(self, manager, auditor, today: dt.date):
        self.manager, self.auditor, self.today = manager, auditor, today
        self.zone = company_zone()
        self.answers = itertools.cycle(ANSWERS)
        self.plans: dict[str, AuditPlan] = {}
        #: The states the recent nonconformities' actions must show, handed out in turn.
        self.wanted = ["overdue", "returned", "responded", "accepted"]
        self.in_progress_day: dt.date | None = None

    # Dates -------------------------------------------------------------------------------

    def at(self, day: dt.date, hour: int = 10) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, 15), tzinfo=self.zone)

    def ago(self, days: int) -> dt.date:
        return self.today - dt.timedelta(days=days)

    def happened(self, day: dt.date) -> bool:
        return day <= self.today

    @contextlib.contextmanager
    def on(self, day: dt.date, hour: int = 10):
        """Date the history entries and findings written inside back to `day` (the change log is
        append-only: it keeps the real time of the load, as for the other demo records)."""
        marks = {model: db.session.scalar(select(func.max(model.id))) or 0 for model in (AuditEvent, Finding)}
        yield
        db.session.flush()
        when = self.at(day, hour)
        for model, column in ((AuditEvent, "at"), (Finding, "created_at")):
            table = model.__table__
            db.session.execute(update(table).where(table.c.id > marks[model]).values({column: when}))

    @staticmethod
    def backdate(obj, **values) -> None:
        """Set timestamps the services stamped with the real clock, without logging a change."""
        db.session.flush()
        table = type(obj).__table__
        db.session.execute(update(table).where(table.c.id == obj.id).values(**values))
        for name, value in values.items():
            set_committed_value(obj, name, value)

    # The programme -----------------------------------------------------------------------

    def run(self) -> None:
        starts_on = self.ago(365)
        template = db.session.scalar(select(QuestionnaireTemplate).where(QuestionnaireTemplate.name == CHECKLIST_TEMPLATE))
        # The on-site audit falls about six months ago, after the checklist was published.
        on_site_month = self.ago(190).month
        values = {
            "monthly": dict(MONTHLY),
            "pickup": dict(PICKUP),
            "on_site": {**ON_SITE, "month": on_site_month, "checklist_template_id": template.id},
        }
        for key, plan_values in values.items():
            plan_values.update(starts_on=starts_on, lead_auditor_id=self.auditor.id)
            with self.on(starts_on - dt.timedelta(days=10), 11):
                plan = programme.create_plan(plan_values, self.manager)
            self.backdate(plan, created_at=self.at(starts_on - dt.timedelta(days=10), 11))
            self.plans[key] = plan
        self.fire_year()
        # CAR-008 approved: the monthly plan becomes a rule, so that it joins from the next firing.
        with self.on(self.ago(24), 9):
            programme.update_plan(self.plans["monthly"], {"supplier_scope": "rule", "rule": MONTHLY_RULE},
                                  self.manager)
        batches = self.batches()
        # The monthly plan's latest firing whose audits are due stays in progress; a later one
        # (its audit date still to come) stays planned.
        monthly = self.plans["monthly"]
        self.in_progress_day = max(d for d in batches["monthly"] if d + dt.timedelta(monthly.lead_time_days) <= self.today)
        for audit in self.audits_in_order():
            key = self.plan_key(audit)
            # The firings whose audits are done by today, counted from the latest (-1) and the first (0).
            done = [d for d in batches[key] if self.is_done(d, self.plans[key])]
            index = done.index(audit.scheduled_for) if audit.scheduled_for in done else None
            self.conduct(audit, key, None if index is None else index - len(done), index)
        # Today's daily step (on the real clock, as the scheduler would): reminders and the
        # escalation of the overdue action (a minor nonconformity: no supplier is suspended).
        action_service.run_daily(self.today)

    def fire_year(self) -> None:
        days = sorted({day for plan in self.plans.values()
                       for day in programme.firing_days(plan, plan.starts_on, self.today)})
        for day in days:
            with self.on(day, 6):
                programme.run_due(day)
            when = self.at(day, 6)
            db.session.execute(update(AuditPlanFiring.__table__)
                               .where(AuditPlanFiring.__table__.c.scheduled_for == day).values(fired_at=when))
            db.session.execute(update(Audit.__table__).where(Audit.__table__.c.scheduled_for == day)
                               .values(created_at=when))

    def is_done(self, day: dt.date, plan: AuditPlan) -> bool:
        """Whether the audits fired on `day` have their report issued by today (or would have)."""
        if plan.id == self.plans["monthly"].id and day >= self.in_progress_day:
            return False
        return self.happened(day + dt.timedelta(days=plan.lead_time_days + 3))

    def plan_key(self, audit: Audit) -> str:
        return next(key for key, plan in self.plans.items() if plan.id == audit.plan_id)

    def batches(self) -> dict[str, list[dt.date]]:
        """Each plan's firing days that created audits, oldest first."""
        result = {}
        for key, plan in self.plans.items():
            result[key] = list(db.session.scalars(
                select(Audit.scheduled_for).where(Audit.plan_id == plan.id).distinct().order_by(Audit.scheduled_for)))
        return result

    def audits_in_order(self) -> list[Audit]:
        from suppliers.models import Supplier

        return list(db.session.scalars(
            select(Audit).join(Supplier, Supplier.id == Audit.supplier_id)
            .order_by(Audit.period_start, Audit.plan_id, Supplier.code)))

    # One audit ---------------------------------------------------------------------------

    def conduct(self, audit: Audit, key: str, position: int | None, index: int | None) -> None:
        """Take the audit as far as it has got by today. `position` and `index` place its firing
        among the plan's done ones (None when its report is not due yet)."""
        planned = audit.planned_date
        code = audit.supplier.code
        if audit.scheduled_for == self.in_progress_day and key == "monthly":
            # The latest month: one postponed, one just started, one with its findings proposed.
            rank = sorted(a.supplier.code for a in self.batch_of(audit)).index(code)
            if rank == 0 or not self.happened(planned):
                if rank == 0:
                    with self.on(min(planned, self.today) - dt.timedelta(days=2), 16):
                        conduct.update_details(audit, self.details(audit, planned=self.today + dt.timedelta(days=4),
                                               notes="Rinviato su richiesta del fornitore (inventario di fine mese)."),
                                               self.auditor, audit.version)
                return
            self.start(audit, planned)
            if rank == 1:
                with self.on(planned, 10):
                    conduct.propose_findings(audit, self.auditor)
            return
        if index is None:
            return
        self.start(audit, planned)
        with self.on(planned, 10):
            conduct.propose_findings(audit, self.auditor)
        if key == "on_site":
            self.on_site(audit, planned)
        with self.on(planned + dt.timedelta(days=1), 11):
            manual = MANUAL_FINDINGS.get((key, position, code)) or MANUAL_FINDINGS.get((key, index, code), ())
            for grade, criterion, statement, evidence in manual:
                conduct.add_finding(audit, {"grade": grade.value, "criterion": criterion, "statement": statement,
                                            "evidence": evidence}, self.auditor)
        with self.on(planned + dt.timedelta(days=2), 12):
            for finding in audit.findings:
                if finding.is_nonconformity or finding.grade == FindingGrade.OBSERVATION:
                    diverging = (key, code, finding.grade, finding.proposed) == (
                        "on_site", "CAR-002", FindingGrade.MINOR_NC.value, False)
                    comment = ("I due subvettori sono in qualificazione: i documenti erano stati inviati prima "
                               "dell'audit." if diverging else None)
                    conduct.record_auditee_response(finding, "diverging" if diverging else "acknowledged",
                                                    comment, self.auditor)
        issued = planned + dt.timedelta(days=3)
        with self.on(issued, 15):
            conduct.update_details(audit, self.details(audit, ended=planned + (dt.timedelta(days=1) if key == "on_site"
                                                                               else dt.timedelta(0)),
                                                       conclusions=self.conclusions(audit)), self.auditor,
                                   audit.version)
            conduct.issue_report(audit, self.auditor, audit.version)
        self.backdate(audit, report_issued_at=self.at(issued, 16))
        settled = [self.corrective_actions(audit, finding, issued)
                   for finding in audit.findings if finding.is_nonconformity]
        if any(day is None for day in settled):
            return
        closing = max([*settled, issued]) + dt.timedelta(days=2)
        if self.happened(closing):
            with self.on(closing, 17):
                conduct.close(audit, self.manager, audit.version)
            self.backdate(audit, closed_at=self.at(closing, 17))

    def batch_of(self, audit: Audit) -> list[Audit]:
        return list(db.session.scalars(select(Audit).where(Audit.plan_id == audit.plan_id,
                                                           Audit.scheduled_for == audit.scheduled_for)))

    def start(self, audit: Audit, day: dt.date) -> None:
        with self.on(day, 9):
            conduct.start(audit, self.auditor, today=day)
            conduct.compute_snapshot(audit, self.auditor, now=self.at(day, 9))

    def details(self, audit: Audit, *, planned: dt.date | None = None, ended: dt.date | None = None,
                notes: str | None = None, conclusions: tuple[str, str] | None = None) -> dict:
        on_site = audit.audit_type == "on_site"
        return {
            "scope": (f"Processi di trasporto, gestione dei reclami e degli smarrimenti, mezzi e documenti; "
                      f"SLA del periodo {audit.period_start:%d/%m/%Y} – {audit.period_end:%d/%m/%Y}."
                      if on_site else
                      f"SLA in vigore nel periodo {audit.period_start:%d/%m/%Y} – {audit.period_end:%d/%m/%Y}."),
            "location": LOCATIONS.get(audit.supplier.code) if on_site else None,
            "planned_date": planned or audit.planned_date,
            "started_on": audit.started_on,
            "ended_on": ended,
            "notes": notes,
            "conclusions": conclusions[0] if conclusions else None,
            "fulfilment": conclusions[1] if conclusions else None,
        }

    @staticmethod
    def conclusions(audit: Audit) -> tuple[str, str]:
        grades = [f.grade for f in audit.findings]
        majors, minors = grades.count(F.MAJOR_NC.value), grades.count(F.MINOR_NC.value)
        if majors:
            return (f"Rilevate {majors} non conformità maggiori e {minors} minori: richieste azioni correttive "
                    "con verifica dell'efficacia.",
                    "Criteri soddisfatti solo in parte: i requisiti critici indicati nei rilievi non sono rispettati.")
        if minors:
            return (f"Rilevate {minors} non conformità minori: richieste azioni correttive.",
                    "Criteri soddisfatti in larga parte, con gli scostamenti indicati nei rilievi.")
        return ("Nessuna non conformità: prestazioni in linea con gli SLA del periodo.",
                "Criteri pienamente soddisfatti.")

    def on_site(self, audit: Audit, day: dt.date) -> None:
        from app.demo.questionnaires import CARRIER_FAIR, CARRIER_GOOD

        with self.on(day, 9):
            conduct.add_participant(audit, {"name": self.auditor.name, "organisation": "Catena Qualità",
                                            "role": "auditor", "email": self.auditor.email}, self.auditor)
            for name, title, role in PARTICIPANTS[audit.supplier.code]:
                conduct.add_participant(audit, {"name": name, "organisation": f"{audit.supplier.legal_name} ({title})",
                                                "role": role}, self.auditor)
        answers = CARRIER_GOOD if audit.supplier.code == "CAR-001" else CARRIER_FAIR
        answers = {**answers, "iso9001_scadenza": (day + dt.timedelta(days=400)).isoformat()}
        questions = {q.key: q.id for q in conduct.checklist_questions(audit)}
        form = {questions[k]: v if isinstance(v, list) else [v] for k, v in answers.items() if k in questions}
        with self.on(day + dt.timedelta(days=1), 17):
            conduct.save_checklist(audit, form, {}, self.auditor)

    # Corrective actions --------------------------------------------------------------------

    def corrective_actions(self, audit: Audit, finding: Finding, issued: dt.date) -> dt.date | None:
        """Request and follow the finding's actions; the day the last one closed, or None while open."""
        requested = issued + dt.timedelta(days=1)
        fate = self.fate(audit, finding, issued)
        # Scripted states are verified by a person (the daily step must not verify them today).
        method = "sla" if finding.series_id is not None and fate == "usual" else "manual"
        due = requested + dt.timedelta(days=21)
        if fate == "overdue":
            due = requested + dt.timedelta(days=min(21, (self.today - requested).days - 5))
        elif fate == "returned":
            due = self.today + dt.timedelta(days=10)
        elif fate == "responded":
            # Answered late, but while the link was still open.
            due = max(due, self.ago(10))
        action = self.request(finding, requested, due, method)
        if fate == "overdue":
            return None
        if fate == "returned":
            responded = requested + (self.today - requested) / 2
            self.respond(action, responded)
            with self.on(responded + dt.timedelta(days=3), 11):
                action_service.send_back(action, "Manca l'analisi delle cause: indicate perché il problema si è "
                                                 "verificato, non solo cosa avete corretto.", self.manager,
                                         today=responded + dt.timedelta(days=3))
            self.backdate(action, reviewed_at=self.at(responded + dt.timedelta(days=3), 11))
            return None
        if fate == "responded":
            self.respond(action, self.ago(3))
            return None
        if fate == "ineffective":
            self.respond(action, requested + dt.timedelta(days=10))
            self.accept(action, requested + dt.timedelta(days=14))
            verdict = self.ago(8)
            with self.on(verdict, 15):
                action_service.verify_manually(
                    action, False, "Alla verifica la nuova polizza non era ancora stata stipulata: il massimale "
                                   "resta di 500.000 euro.", None, self.manager)
            self.backdate(action, verified_at=self.at(verdict, 15))
            self.request(finding, self.ago(6), self.today + dt.timedelta(days=15), "manual",
                         text="La prima azione non è stata efficace: inviateci la polizza con il massimale "
                              "contrattuale e la data di decorrenza.")
            return None
        return self.follow(action, requested, keep_accepted=fate == "accepted")

    def fate(self, audit: Audit, finding: Finding, issued: dt.date) -> str:
        """What happens to the finding's action: scripted for the states the demo must show,
        else the usual course of events up to today."""
        if audit.audit_type == "on_site" and finding.grade == F.MAJOR_NC.value:
            return "ineffective"
        if (self.today - issued).days > RECENT_DAYS:
            return "usual"
        waited = (self.today - issued).days
        for fate in self.wanted:
            # Overdue: a minor nonconformity, so that the daily step suspends no supplier.
            if fate == "overdue" and (finding.grade != F.MINOR_NC.value or waited < 12):
                continue
            if waited < (16 if fate == "accepted" else 8):
                continue
            self.wanted.remove(fate)
            return fate
        return "usual"

    def request(self, finding: Finding, day: dt.date, due: dt.date, method: str, text: str | None = None):
        with self.on(day, 10):
            action = action_service.request_action(
                finding, self.manager, due_date=due, today=day, language="it", effectiveness_method=method,
                request_text=text or "Vi chiediamo il contenimento, l'analisi delle cause e l'azione correttiva "
                                     "per il rilievo indicato.")
        self.backdate(action, created_at=self.at(day, 10))
        return action

    def respond(self, action: CorrectiveAction, day: dt.date) -> None:
        answer = dict(next(self.answers))
        answer.update(method="five_whys", action_due_date=(day + dt.timedelta(days=30)).isoformat())
        with self.on(day, 18):
            action_service.respond(action, answer, submit=True, today=day, now=self.at(day, 18))
        self.backdate(action, responded_at=self.at(day, 18))

    def accept(self, action: CorrectiveAction, day: dt.date) -> None:
        with self.on(day, 11):
            action_service.accept(action, "Piano adeguato: verificheremo l'efficacia.", self.manager)
        self.backdate(action, reviewed_at=self.at(day, 11))

    def follow(self, action: CorrectiveAction, requested: dt.date, *, keep_accepted: bool = False) -> dt.date | None:
        """The usual course: answered in ten days, accepted in three more, verified once it can be."""
        responded, accepted = requested + dt.timedelta(days=10), requested + dt.timedelta(days=13)
        if not self.happened(responded):
            return None
        self.respond(action, responded)
        if not self.happened(accepted):
            return None
        self.accept(action, accepted)
        if keep_accepted:
            return None
        if action.effectiveness_method == "sla":
            known = action_service.effectiveness(action, self.today).known_after
            day = (known or accepted) + dt.timedelta(days=3)
            if not self.happened(day):
                return None
            with self.on(day, 8):
                result = action_service.verify(action, None, today=day)
            if result.state in (action_service.MET, action_service.NOT_MET):
                self.backdate(action, verified_at=self.at(day, 8))
                if action.state == ActionStatus.CLOSED:
                    return day
                # Not effective: a new action, verified on site.
                replacement = self.request(action.finding, day + dt.timedelta(days=1), day + dt.timedelta(days=22),
                                           "manual", text="L'azione precedente non è stata efficace: lo SLA non è "
                                                          "stato rispettato nei mesi successivi.")
                return self.follow(replacement, day + dt.timedelta(days=1))
            note = "Periodi senza dati sufficienti: efficacia verificata sui documenti inviati dal fornitore."
        else:
            day = accepted + dt.timedelta(days=30)
            if not self.happened(day):
                return None
            note = "Verificato con le evidenze inviate dal fornitore e a campione sulle spedizioni del mese."
        with self.on(day, 15):
            action_service.verify_manually(action, True, note, None, self.manager)
        self.backdate(action, verified_at=self.at(day, 15))
        return day

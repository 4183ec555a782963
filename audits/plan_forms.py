"""Forms of the audit programme. Formats are checked here; the rules in
audits.services.programme (which names the field of each refusal)."""
from __future__ import annotations

from babel.dates import get_month_names
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.forms import choices
from audits.models import AUDIT_TYPE_LABELS, PERIOD_BASIS_LABELS, RECURRENCE_LABELS, Recurrence, SupplierScope
from suppliers.forms import MultiCheckboxField
from suppliers.metrics import METRICS
from suppliers.models import CHAIN_ROLE_LABELS, RISK_CLASS_LABELS, STATUS_LABELS, RiskClass

#: The shorter recurrences a risk class may get.
SHORTER = (Recurrence.MONTHLY, Recurrence.QUARTERLY)


def _labels(mapping):
    return lambda: choices((code.value, label) for code, label in mapping.items())


def _months():
    names = get_month_names("wide", locale=get_locale())
    return choices([("", "—"), *((str(n), names[n]) for n in range(1, 13))])


def _shorter():
    return choices([("", _l("as the plan")), *((r.value, RECURRENCE_LABELS[r]) for r in SHORTER)])


class PlanForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    objectives = TextAreaField(_l("Objectives"), validators=[Optional(), Length(max=10_000)])
    criteria = TextAreaField(_l("Criteria"), validators=[Optional(), Length(max=10_000)],
                             description=_l("Contract clauses, SLAs and standards the audit checks against."))
    audit_type = SelectField(_l("Audit type"), choices=_labels(AUDIT_TYPE_LABELS))
    checklist_template_id = SelectField(_l("Checklist"), choices=[],
                                        description=_l("On-site audits: the questionnaire the auditor fills in."))
    metrics = MultiCheckboxField(_l("SLA metrics audited"),
                                 choices=lambda: choices((code, m.label) for code, m in METRICS.items()),
                                 description=_l("None chosen: every SLA in force for the supplier."))
    supplier_scope = RadioField(_l("Suppliers"), default=SupplierScope.RULE.value, choices=lambda: choices([
        (SupplierScope.RULE.value, _l("Every supplier matching a rule, read again at each firing")),
        (SupplierScope.LIST.value, _l("A list of suppliers"))]))
    rule_chain_roles = MultiCheckboxField(_l("Chain roles"), choices=_labels(CHAIN_ROLE_LABELS))
    rule_statuses = MultiCheckboxField(_l("Statuses"), choices=_labels(STATUS_LABELS))
    rule_risk_classes = MultiCheckboxField(_l("Risk classes"), choices=_labels(RISK_CLASS_LABELS))
    suppliers = StringField(_l("Supplier codes"), validators=[Optional(), Length(max=5000)],
                            description=_l("Separated by spaces or commas, e.g. CAR-001 CAR-002."))
    recurrence = SelectField(_l("Recurrence"), choices=_labels(RECURRENCE_LABELS))
    day_of_month = IntegerField(_l("Day of the month"), default=1, validators=[Optional()],
                                description=_l("1 to 28. Quarterly plans fire in January, April, July and October."))
    month = SelectField(_l("Month (yearly plans)"), choices=_months, validators=[Optional()])
    cron = StringField(_l("Cron expression"), validators=[Optional(), Length(max=100)],
                       description=_l("Five fields: minute hour day month weekday, e.g. 0 2 1 */2 *. "
                                      "The plan fires on the days it names; the time is ignored."))
    risk_low = SelectField(RISK_CLASS_LABELS[RiskClass.LOW], choices=_shorter)
    risk_medium = SelectField(RISK_CLASS_LABELS[RiskClass.MEDIUM], choices=_shorter)
    risk_high = SelectField(RISK_CLASS_LABELS[RiskClass.HIGH], choices=_shorter)
    risk_critical = SelectField(RISK_CLASS_LABELS[RiskClass.CRITICAL], choices=_shorter)
    #: Carries the service's message about the risk classes (shown under their fieldset).
    risk_recurrence = HiddenField()
    period_basis = SelectField(_l("Period each audit covers"), choices=_labels(PERIOD_BASIS_LABELS))
    lead_auditor_id = SelectField(_l("Lead auditor"), choices=[])
    lead_time_days = IntegerField(_l("Lead time (days)"), default=7, validators=[Optional(), NumberRange(0, 90)],
                                  description=_l("Days from the firing to the planned audit date."))
    major_margin = StringField(_l("Major NC margin"), default="0.10", validators=[Optional(), Length(max=10)],
                               description=_l("Breached by more than this share of the target (0.10 = 10 %) "
                                              "proposes a major nonconformity."))
    starts_on = DateField(_l("Starts on"), validators=[DataRequired()],
                          description=_l("No firing before this day. Days already past are fired at once."))
    version = HiddenField()

    RISK_FIELDS = {RiskClass.LOW.value: "risk_low", RiskClass.MEDIUM.value: "risk_medium",
                   RiskClass.HIGH.value: "risk_high", RiskClass.CRITICAL.value: "risk_critical"}

    def set_choices(self, auditors, templates) -> None:
        self.lead_auditor_id.choices = choices([("", "—"), *((str(u.id), f"{u.name} <{u.email}>") for u in auditors)])
        self.checklist_template_id.choices = choices([("", "—"), *((str(t.id), t.name) for t in templates)])

    @classmethod
    def data_from(cls, plan) -> dict:
        data = {name: getattr(plan, name) for name in (
            "name", "objectives", "criteria", "audit_type", "supplier_scope", "recurrence", "day_of_month",
            "cron", "period_basis", "lead_time_days", "starts_on", "version")}
        data.update(
            metrics=plan.metrics or [], suppliers=" ".join(s.code for s in plan.suppliers),
            month=str(plan.month or ""), checklist_template_id=str(plan.checklist_template_id or ""),
            lead_auditor_id=str(plan.lead_auditor_id or ""), major_margin=str(plan.major_margin),
            rule_chain_roles=(plan.rule or {}).get("chain_roles", []),
            rule_statuses=(plan.rule or {}).get("statuses", []),
            rule_risk_classes=(plan.rule or {}).get("risk_classes", []))
        for risk, name in cls.RISK_FIELDS.items():
            data[name] = (plan.risk_recurrence or {}).get(risk, "")
        return data

    def values(self) -> dict:
        return {
            "name": self.name.data, "objectives": self.objectives.data, "criteria": self.criteria.data,
            "audit_type": self.audit_type.data, "checklist_template_id": self.checklist_template_id.data or None,
            "metrics": self.metrics.data or [], "supplier_scope": self.supplier_scope.data,
            "rule": {"chain_roles": self.rule_chain_roles.data or [], "statuses": self.rule_statuses.data or [],
                     "risk_classes": self.rule_risk_classes.data or []},
            "suppliers": self.suppliers.data or "", "recurrence": self.recurrence.data,
            "day_of_month": self.day_of_month.data, "month": self.month.data or None, "cron": self.cron.data,
            "risk_recurrence": {risk: getattr(self, name).data for risk, name in self.RISK_FIELDS.items()
                                if getattr(self, name).data},
            "period_basis": self.period_basis.data, "lead_auditor_id": self.lead_auditor_id.data or None,
            "lead_time_days": self.lead_time_days.data, "major_margin": self.major_margin.data,
            "starts_on": self.starts_on.data,
        }

    def expected_version(self) -> int | None:
        try:
            return int(self.version.data)
        except (TypeError, ValueError):
            return None


class PlanActionForm(FlaskForm):
    """Activate, deactivate, run due now: a button carrying the CSRF token and the version."""

    version = HiddenField()

"""SLA compliance audits (ISO 19011) and corrective actions (ISO 9001 §10.2).

The audit programme (plans on a recurrence over a list or a rule of suppliers), the audits each
firing creates exactly once, their frozen SLA snapshot, checklist, findings, the report, and
the corrective action requests (SCAR) nonconformities send to suppliers through a private link,
closed only when their effectiveness is verified. Not here: measuring SLAs (suppliers/), the
questionnaires used as checklists (questionnaires/), PDF rendering (reports/).
"""

"""The back office's index, grouped by what staff do (``core.admin_index`` does the
grouping; this is the one place that says which model goes where).

A model no group names (a new app's admin) is listed under "More", never dropped. The
machinery (task results and schedules, token blacklists, login lockouts, the outbox,
audit seals, webhooks) sits under "System", which only superusers see on the index; the
permissions are unchanged (staff may still open a lockout list from its address to
unlock an account).
"""

from __future__ import annotations

from core.admin_index import IndexGroup, IndexLayout, IndexLink

FRONT_DESK = IndexGroup(
    key="front-desk",
    name="Front desk",
    links=(
        IndexLink(
            "Book an appointment",
            "admin:scheduling_appointment_book",
            "scheduling.add_appointment",
        ),
    ),
    members=(
        "scheduling.appointment",
        "scheduling.slot",
        "scheduling.appointmentseries",
        "waitlist",
    ),
)
CLINICIANS_AND_PATIENTS = IndexGroup(
    key="people",
    name="Clinicians and patients",
    members=(
        "accounts.user",
        "scheduling.availabilityrule",
        "accounts.hospital",
        "notifications.notificationpreference",
        "calendars",
    ),
)
RECORDS = IndexGroup(
    key="records",
    name="Records",
    members=(
        "consultations.consultation",
        "consultations.prescription",
        "labs.labresult",
        "notifications.notification",
        "audit.auditevent",
    ),
)
IMPORTS_AND_REPORTS = IndexGroup(
    key="imports-reports",
    name="Imports and reports",
    members=("core.job", "bulk_import.hospitalimportjob", "bulk_import.directorysyncstate"),
)
MORE = IndexGroup(key="more", name="More")
SYSTEM = IndexGroup(
    key="system",
    name="System",
    superuser_only=True,
    members=(
        "auth.group",
        "axes",
        "token_blacklist",
        "django_celery_beat",
        "django_celery_results",
        "core.outboxevent",
        "audit.auditseal",
        "notifications.webhookendpoint",
        "notifications.webhookdelivery",
    ),
)

BACK_OFFICE_LAYOUT = IndexLayout(
    groups=(FRONT_DESK, CLINICIANS_AND_PATIENTS, RECORDS, IMPORTS_AND_REPORTS, MORE, SYSTEM),
    default_key=MORE.key,
)

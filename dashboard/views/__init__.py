"""The clinician dashboard: one module per page, thin views over the domains.

Writes go through the same services as the API (appointment and consultation lifecycle,
availability, prescriptions, reports), so the rules, audit rows and events are the same.
A refused write (a ``DomainError``) is shown to the clinician, never a 500.
"""

"""The scheduling back office. Every write goes through the services.

* ``availability``: weekly rules and slots;
* ``appointments``: the appointments' list, change form and lifecycle actions;
* ``front_desk``: staff booking, cancelling and rescheduling for a patient;
* ``series``: recurring series, read-only, cancelled through the series service.

A service is called while the admin validates the form, inside the admin's own
transaction: a ``DomainError`` becomes a form error and nothing is half-saved.
"""

from scheduling.admin import appointments, availability, series

__all__ = ["appointments", "availability", "series"]

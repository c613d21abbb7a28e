"""The demo clinic that ``make run`` loads (``seed_demo``), one module per part.

* ``people``: the cast (staff, front desk, four clinicians, patients), all at
  ``@carebook.example.test``, the only rows the demo ever touches;
* ``clock``: the controlled clock that lets the services write history in the past;
* ``visits``: one visit played through the services (book, start, notes, outcome);
* ``history``, ``today``, ``ahead``: the last eight weeks, today around now, the weeks
  ahead (weekly rules, a group session, a weekly series);
* ``clinical``: addenda, prescriptions and lab results on the history's consultations;
* ``jobs``: a finished hospital import and a report in the jobs list;
* ``waitlist``: patients waiting for a day next week, one with a live offer;
* ``refresh``: past demo visits still booked become completed or no-show;
* ``world``: the order in which the parts run (``demo_seed``).

Everything is written through the domain services, the history too (under the demo
clock), so every record has its checks, audit row and event. Raw ORM writes: only the
first superuser (Django's bootstrap, as ``createsuperuser``) and the demo hospital row
(hospitals otherwise come from the CSV import, which ``jobs`` runs for two more); no
history needed one. Demo rows are those of users at ``people.DEMO_DOMAIN``; nothing else
is read for a change or changed.
"""

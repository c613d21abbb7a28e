"""fhir has no models, so nothing in the admin: its records are scheduling's and accounts'."""

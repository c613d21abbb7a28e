"""fhir: models (none yet)."""

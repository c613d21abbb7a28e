"""fhir admin (to be written)."""

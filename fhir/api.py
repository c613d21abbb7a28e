"""fhir api (to be written)."""

"""fhir keeps no data of its own: it maps scheduling's and accounts' records (fhir.mapping)."""

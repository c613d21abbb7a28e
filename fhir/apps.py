from pathlib import Path

from django.apps import AppConfig


class FhirConfig(AppConfig):
    name = "fhir"
    verbose_name = "FHIR R4"
    # fhir/__init__.py extends the package's path (fhir.resources in the tests); Django
    # asks for one folder of the app's own.
    path = str(Path(__file__).resolve().parent)

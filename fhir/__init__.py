"""The FHIR R4 door: CapabilityStatement, read and search, booking (docs/fhir.md).

The ``fhir.resources`` package (the R4B models the tests validate every answer with)
installs under a top-level ``fhir`` too. ``extend_path`` lets ``fhir.resources`` be
found beside this app's modules, so no module here may be named ``resources``.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

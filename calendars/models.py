"""calendars: models (none yet)."""

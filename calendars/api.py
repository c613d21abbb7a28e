"""calendars api (to be written)."""

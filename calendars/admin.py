"""calendars admin (to be written)."""

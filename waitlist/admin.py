"""waitlist admin (to be written)."""

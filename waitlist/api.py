"""waitlist api (to be written)."""

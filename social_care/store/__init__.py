"""social_care/store."""

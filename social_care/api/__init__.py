"""social_care/api."""

"""social_care/pipeline."""

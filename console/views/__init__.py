"""Views: Panel widgets and small JS components that only render view-model state."""

"""The manager dashboard page: sentiment, volume, response times, SLA and backlog, from social_care.metrics."""

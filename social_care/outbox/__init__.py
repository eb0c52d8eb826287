"""The durable outbox: replies are rows first, delivered by a sender worker."""

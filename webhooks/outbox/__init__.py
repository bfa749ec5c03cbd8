"""The outbox: replies written before they are sent, claimed with a lease in per-citizen order, sent, retried."""

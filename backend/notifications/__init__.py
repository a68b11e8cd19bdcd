"""Notifications to applicants: the SMS outbox, templates, providers and reminders."""

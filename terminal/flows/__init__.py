"""Citizen and staff flows as plain state machines; no Kivy here."""

"""Durable storage shared by the patient's records and the clinic server (no app semantics)."""

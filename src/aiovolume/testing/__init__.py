"""Test and benchmark helpers shipped with the library (local servers; nothing here is used
by the engine itself)."""

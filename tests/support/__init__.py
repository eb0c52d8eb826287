"""Test-suite support code: real parts (PostgreSQL, ...) and the rules for when they are missing."""

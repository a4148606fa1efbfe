"""Entanglement: who reads which feature, declarations, reads and rendering."""

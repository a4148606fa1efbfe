"""Feature capture: the scikit-learn hook, profiling, fingerprints, backfill."""

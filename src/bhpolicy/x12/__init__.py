"""X12 837P (005010X222A1) out of billing lines; pyx12 validation behind one module."""

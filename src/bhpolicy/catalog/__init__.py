"""HCPCS catalog: curated entries with cited facts, search, and the CMS file importer."""

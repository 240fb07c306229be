"""Input adapters: CSV/Parquet readers that validate rows and keep the bad ones apart."""

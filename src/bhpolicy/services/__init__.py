"""Framework-free use cases of ``bhpolicy serve``: each write is one transaction and one audit
row, and every determination comes from the same library functions as ``bhpolicy check``."""

"""bhpolicy: behavioral-health payer policy as executable rules that cite the policy text."""

__version__ = "0.1.0"

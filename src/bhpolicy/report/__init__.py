"""Rendering of decided results as text, JSON or HTML. Formats only; decides nothing."""

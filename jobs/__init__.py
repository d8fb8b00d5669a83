"""Thin entry points for RQ workers and the embedded scheduler; the work lives in app.services."""

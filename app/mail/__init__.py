"""Delivery building blocks: sandboxed rendering, MIME composition and SMTP transport."""

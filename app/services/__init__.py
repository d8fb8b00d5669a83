"""Services own transactions: web, API and jobs call these, never the models directly."""

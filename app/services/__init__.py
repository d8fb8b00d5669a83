"""Services own transactions: the web, the API and the jobs call these, never the models directly."""

"""The dashboard's routers, one per group of pages."""

"""Station certificates and signing requests in SQL (core/certificates)."""

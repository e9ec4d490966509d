"""Station certificates: the built-in certificate authority, signing requests, tracking and renewal."""

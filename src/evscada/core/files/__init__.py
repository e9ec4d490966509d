"""Station files: diagnostics and logs that stations upload, with one-time upload tokens and retention."""

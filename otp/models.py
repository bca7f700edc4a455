# One-time codes arrive with the verification issue.

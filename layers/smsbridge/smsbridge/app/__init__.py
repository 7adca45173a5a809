"""What Lambda runs: each function's service with its composition root, and the recovery sweep."""

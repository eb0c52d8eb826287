"""social-care: a self-hosted care console for brands answering customers on social platforms."""

"""The ``gdpr`` analyzer: personal data in text, by category (docs to come with the analyzer itself)."""

"""Evaluation and reporting: inference, scoring, metrics and figures, the ensemble, the leaderboard and the report."""

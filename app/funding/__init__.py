"""Residents' share of plan items: split rules, pledges, collections and refunds, the funding gate, disclosure."""

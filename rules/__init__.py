"""doisoat domain library: Vietnamese normalisation, validation, matching, quota policy.

No Dagster import anywhere under ``rules/`` (a test enforces it): everything here runs and is
tested in plain Python, and policy lives beside the code as YAML/CSV.
"""

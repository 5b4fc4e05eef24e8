"""Evaluations on public data sets, run through ``QAService`` like any user's question."""

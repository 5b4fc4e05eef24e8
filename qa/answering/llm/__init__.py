"""The LLM answerer: provider wiring, the prompt, and the check of the model's draft."""

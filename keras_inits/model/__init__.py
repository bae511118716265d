"""Model-level tools: they apply schemes to whole models (LSUV, policies, re-initialization)."""

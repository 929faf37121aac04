"""Operational scripts for Orca: the deploy tool (``orca-deploy``) and its helpers."""

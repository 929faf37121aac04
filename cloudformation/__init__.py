"""Orca's infrastructure as code: troposphere templates for the nested stacks, one module per stack.

Render with ``python -m cloudformation --env ENV --out DIR``; see ``render.py`` and ``environments.py``.
"""

"""The deploy tool's parts, one job per module.

``templates`` finds and uploads the rendered templates, ``stacks`` inspects the stack and clears leftovers,
``changeset`` creates, polls and deletes change sets, ``review`` turns a change set (nested ones included)
into a table and applies the stateful-resource guard, ``events`` follows a running deploy, ``protection``
sets stack policies and termination protection, ``flow`` puts them in order. ``scripts/deploy.py`` is the
command line.
"""

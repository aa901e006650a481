"""What each command-line driver does: the wiring of data, model, losses, train, encode, index and evaluation.

``scripts/*.py`` are thin Hydra mains that call into this package; nothing below it imports from here.
"""

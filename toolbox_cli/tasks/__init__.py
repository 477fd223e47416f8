"""Task modules: one per task, each defining ``SPEC`` (``tasks/base.py``); the registry lists them."""

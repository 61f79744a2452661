"""Inference acceleration: everything that makes a trained ``Darknet`` run faster, in one place.

Importing this package loads nothing heavy: each module is imported where it is used.
"""

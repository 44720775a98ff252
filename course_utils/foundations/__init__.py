"""Layer 0 of the course package: what every other layer imports.

* ``seeding``  :func:`set_seed` and :func:`device`
* ``checks``   the argument checks the mechanisms and worlds share (errors that name the argument)

Modules here import only torch, NumPy and the standard library.
"""

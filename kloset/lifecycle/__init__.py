"""The life of the data in a store once it is written: retention (which snapshots to keep), maintenance
(giving back the space of data no snapshot uses) and sync (copying snapshots between stores).

A layer above ``repository`` and ``snapshot``, below the public ``Store``.
"""

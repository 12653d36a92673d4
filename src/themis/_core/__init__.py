"""The sans-IO core shared by the sync and async clients.

Operations are generators: they yield effects (:class:`~themis._core.effects.Call`,
:class:`~themis._core.effects.Parallel`, :data:`~themis._core.effects.LOAD_TOPOLOGY`)
and receive the driver's answers. Nothing here performs I/O or sleeps.
"""

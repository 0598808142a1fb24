"""devsec's command line (the ``devsec`` console script).

The library lives in ``spdm`` (and later ``ide_km``, ``tdisp``, ``sysfs_bridge``).
"""

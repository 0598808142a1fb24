"""devsec's command-line front end (``devsec`` console script); the library is ``spdm``, ``ide_km``, ``tdisp``."""

"""Market data from chains and public exports: ``eth_getLogs`` fetching into exact event files
(``events``) and readers of common formats (``readers``); ``python -m envs.data`` is the command line."""

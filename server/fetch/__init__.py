"""Fetching a caller's image URL: the URL rules (``urls``), the network policy (``netpolicy``) and
the bounded fetcher (``fetcher``)."""

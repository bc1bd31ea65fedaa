"""A venue package to copy: the client side of a new venue, built on :mod:`venues._common`.

Copy the folder to ``venues/<name>/``, rename ``Template`` → ``<Name>``, then replace each
``TEMPLATE:`` note with the venue's dialect. Only the dialect goes here; the plumbing is the kit's:

=================  ===========================================================================
file               what it holds (and what of the kit it uses)
=================  ===========================================================================
``constants.py``   ``VENUE``, URLs, header names, error codes, rate limits
``signer.py``      the signing recipe, sans-I/O (a :class:`~venues._common.Signer`)
``schemas.py``     the wire format: ``loads`` (bounded JSON, :func:`engine.loads_json`)
``parsers.py``     wire messages → engine events, through a :class:`~venues._common.FieldReader`
``rest.py``        endpoints and ``raise_for_response`` (the venue's errors, in one place);
                   transport, wire failures and the one re-sign from :mod:`venues._common.rest`
``stream.py``      the WebSocket frame codec: a :class:`~venues._common.ReconnectingWebSocket`
``gateway.py``     the config (a :class:`~venues._common.VenueConfig`) and the gateway
``testnet.py``     the local testnet's dialect (see ``venues/README.md``, testnet side)
=================  ===========================================================================

The package's own ``__init__`` says what the venue supports and exports the gateway, its config
and the uniform venue interface of :mod:`venues` (see ``venues/ekiden/__init__.py``).
"""

"""One module per resource; each handler is a plain coroutine of the request."""

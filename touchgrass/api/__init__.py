"""The HTTP API (`touchgrass api`): a drop-in replacement for the TouchGrass backend.

`routes` is the table of every route (it also generates the OpenAPI document), `handlers/`
hold one module per resource, `upload` streams the multipart image, `middleware` does what
every response needs (errors as JSON, CORS, security headers, correlation ids).
"""

"""Hooks of scripts/openapi-test.sh's schemathesis run.

A tus PATCH (and a POST with creation-with-upload) sends raw bytes as
`application/offset+octet-stream`: serialized as `application/octet-stream` is, so that
those bodies are generated and sent like any upload's.
"""

import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

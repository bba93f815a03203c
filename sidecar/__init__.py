"""docline's local Dapr-compatible sidecar: workflow engine, state, bindings, conversation, secrets.

It speaks daprd's gRPC protocols and knows nothing of documents; it imports nothing from the rest of docline.
"""

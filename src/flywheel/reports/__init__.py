"""The versioned report models (a wire format), their files on disk and their JSON Schema."""

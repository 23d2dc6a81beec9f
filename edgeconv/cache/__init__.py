"""The content-addressed stage cache every build shares (`stages`), its remote tier (`remote`), and what
`edgeconv cache ls/clear` reads (`store`)."""

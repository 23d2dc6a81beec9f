"""edgeconv: take a fine-tuned model to an edge device, and prove what you ship."""

__version__ = "0.1.0"

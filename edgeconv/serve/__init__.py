"""`edgeconv serve`: a verified artifact over HTTP with the Open Inference Protocol v2 (KServe / Triton)."""

"""TensorRT: the builder plan, builder API and trtexec, engine metadata, the pre-build check, and the engine runner."""

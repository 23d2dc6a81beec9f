"""`edgeconv init MODEL`: read a model (and its data) and write a commented spec that builds as it is."""

"""Beyond one machine: sharded builds and their merge (`--shard`, `edgeconv merge`, `edgeconv ci matrix`), a
shared remote stage cache (`cache: {url: s3://...}`), and the searches' trials on Ray (`--ray`)."""

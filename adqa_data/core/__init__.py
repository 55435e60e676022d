"""What every stage stands on: the workspace and its tables, one atomic write, schemas, names, errors,
provenance and shard records, settings files, the execution engine and progress."""

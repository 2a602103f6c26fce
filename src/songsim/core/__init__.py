"""What every phase shares, below them all: the params layer, Arrow schemas, atomic writers, stage
reports, the Arrow allocator, metric functions and checkpoint I/O. Imports nothing from the phases."""

"""The projection consumers on Kafka: batches, the FastStream subscriber, the process group."""

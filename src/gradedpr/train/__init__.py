"""Training: optimiser and schedule, the step, checkpoints and resume, logging, the loop."""

"""CI builds: train, evaluate against production, check the gate, register, promote."""

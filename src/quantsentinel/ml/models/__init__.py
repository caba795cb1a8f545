"""Model definitions: datasets, training and evaluation functions the registry drives."""

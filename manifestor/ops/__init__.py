"""Workflows over the model, the registry and this machine: doctor, build."""

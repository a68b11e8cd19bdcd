"""The compartment domain: layout, states, allocation, pickup codes and the journal."""

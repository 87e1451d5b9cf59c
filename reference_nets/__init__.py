"""reference_nets: the networks fxsim trains and the loaders of their data."""

"""One module per group of screens; each screen renders one step of a flow."""
